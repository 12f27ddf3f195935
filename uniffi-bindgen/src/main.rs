//! `uniffi-bindgen`, pinned to the uniffi version of `samtale-ffi` (bindings and scaffolding
//! must come from the same version). Used by `scripts/gen-bindings` in library mode.

fn main() {
    uniffi::uniffi_bindgen_main()
}
