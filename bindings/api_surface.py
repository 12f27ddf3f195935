#!/usr/bin/env python3
"""Prints the public API of the generated Python bindings, one line per item, stable order.
(The tests' build has the `fault-hook` feature, so `inject_panic` is listed; phone builds
do not export it.)

The committed bindings/api.txt is this output; ./scripts/test regenerates the bindings and fails
when the two differ, so an API change is always a deliberate, reviewed edit of api.txt.
"""
import ast
import sys

def describe(tree):
    lines = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            args = [a.arg for a in node.args.args] + [a.arg for a in node.args.kwonlyargs]
            ret = ast.unparse(node.returns) if node.returns is not None else "None"
            lines.append(f"def {node.name}({', '.join(args)}) -> {ret}")
            continue
        if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
            continue
        if node.name.endswith("Protocol") or node.name.endswith("Impl"):
            continue
        lines.append(f"class {node.name}")
        for item in node.body:
            if isinstance(item, ast.ClassDef) and not item.name.startswith("_"):
                fields = []
                for sub in item.body:
                    if isinstance(sub, ast.FunctionDef) and sub.name == "__init__":
                        fields = [a.arg for a in sub.args.args[1:]] + [a.arg for a in sub.args.kwonlyargs]
                lines.append(f"  variant {item.name}({', '.join(fields)})")
            elif isinstance(item, ast.FunctionDef) and (not item.name.startswith("_") or item.name == "__init__"):
                if item.name.startswith("is_") and item.name[3:].isupper():
                    continue
                args = [a.arg for a in item.args.args[1:]] + [a.arg for a in item.args.kwonlyargs]
                ret = ast.unparse(item.returns) if item.returns is not None else "None"
                lines.append(f"  def {item.name}({', '.join(args)}) -> {ret}")
            elif isinstance(item, ast.Assign):
                for t in item.targets:
                    if isinstance(t, ast.Name) and not t.id.startswith("_") and t.id.isupper():
                        lines.append(f"  const {t.id}")
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and not item.target.id.startswith("_"):
                lines.append(f"  field {item.target.id}: {ast.unparse(item.annotation)}")
    return lines

def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        tree = ast.parse(f.read())
    print("\n".join(describe(tree)))

if __name__ == "__main__":
    main()
