// The join-link page, /j/#<code>. The code is in the fragment, which a browser never sends to
// a server, so it is in no access log; this script shows it (grouped 3-3-4, as everywhere) or,
// for a code that cannot be right, says the link looks wrong. Nothing is looked up.

// The Damm quasigroup (protocol/src/code.rs): the tenth digit checks the other nine.
const DAMM = [
  [0, 3, 1, 7, 5, 9, 8, 6, 4, 2], [7, 0, 9, 2, 1, 5, 4, 8, 6, 3], [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
  [1, 7, 5, 0, 9, 8, 3, 4, 2, 6], [6, 1, 2, 3, 0, 4, 5, 9, 7, 8], [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
  [5, 8, 6, 9, 7, 2, 0, 1, 3, 4], [8, 9, 4, 5, 3, 6, 2, 0, 1, 7], [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
  [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

function codeFromFragment(hash) {
  let text;
  try {
    text = decodeURIComponent(hash.replace(/^#/, ''));
  } catch {
    return null;
  }
  if (!/^[0-9 -]*$/.test(text)) return null;
  const digits = text.replace(/[ -]/g, '');
  if (digits.length !== 10) return null;
  const check = [...digits].reduce((interim, d) => DAMM[interim][Number(d)], 0);
  return check === 0 ? digits : null;
}

function show() {
  const digits = codeFromFragment(window.location.hash);
  const ok = document.getElementById('join-ok');
  const bad = document.getElementById('join-bad');
  document.getElementById('join-fallback').hidden = true;
  if (!digits) {
    ok.hidden = true;
    bad.hidden = false;
    return;
  }
  const grouped = `${digits.slice(0, 3)} ${digits.slice(3, 6)} ${digits.slice(6)}`;
  for (const el of document.querySelectorAll('[data-code]')) el.textContent = grouped;
  for (const el of document.querySelectorAll('[data-code-label]')) {
    el.setAttribute('aria-label', `${el.dataset.codeLabel} ${grouped}`);
  }
  bad.hidden = true;
  ok.hidden = false;
}

show();
window.addEventListener('hashchange', show);
