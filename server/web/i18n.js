// All user-facing text of the caseworker page, in Danish (the default) and English.
// Elements in index.html name their text with data-i18n (textContent) or data-i18n-label
// (aria-label); app.js uses t(). The choice is remembered in this browser (localStorage).

const STRINGS = {
  da: {
    'app.title': 'Samtale — sagsbehandler',
    skip: 'Spring til indhold',
    'lang.switch': 'English',
    'lang.switch.label': 'Switch to English',
    'signin.title': 'Log ind',
    'signin.token': 'Medarbejdernøgle',
    'signin.submit': 'Log ind',
    'signin.hint': 'Nøglen gemmes kun i denne fane, indtil du lukker den eller logger ud.',
    'signin.empty': 'Skriv medarbejdernøglen.',
    'signin.wrong': 'Forkert medarbejdernøgle.',
    'signin.failed': 'Log ind mislykkedes: {why}',
    'signin.again': 'Medarbejdernøglen blev ikke godkendt. Log ind igen.',
    'signout': 'Log ud',
    'meetings.title': 'Møder',
    'meetings.create': 'Opret møde',
    'meetings.code': 'Kode til borgeren',
    'meetings.valid': 'Gælder til {time}',
    'meetings.link': 'Link til borgeren',
    'meetings.copy': 'Kopiér link',
    'meetings.copied': 'Linket er kopieret.',
    'meetings.copyFailed': 'Kunne ikke kopiere. Markér linket og kopiér det selv.',
    'meetings.qr': 'QR-kode med linket til mødet',
    'meetings.join': 'Gå ind i mødet',
    'meetings.end': 'Afslut møde',
    'meetings.open': 'Åbne møder',
    'meetings.refresh': 'Opdatér',
    'meetings.none': 'Ingen åbne møder.',
    'meetings.select': 'Vælg',
    'meetings.selectCode': 'Vælg mødet med koden {code}',
    'meetings.until': 'til {time}',
    'meetings.people.one': '1 deltager',
    'meetings.people.many': '{n} deltagere',
    'err.list': 'Kunne ikke hente møderne',
    'err.create': 'Kunne ikke oprette et møde',
    'err.end': 'Kunne ikke afslutte mødet',
    'err.join': 'Kunne ikke gå ind i mødet',
    'err.network': 'Serveren kan ikke nås.',
    'call.title': 'Videomøde',
    'call.you': 'Dig',
    'call.mute': 'Slå mikrofon fra',
    'call.unmute': 'Slå mikrofon til',
    'call.cameraOff': 'Slå kamera fra',
    'call.cameraOn': 'Slå kamera til',
    'call.leave': 'Forlad mødet',
    'call.people': 'I mødet',
    'call.nobody': 'Ingen andre er her endnu.',
    'state.connecting': 'Forbinder…',
    'state.waiting': 'Venter på borgeren',
    'state.in_call': 'I mødet',
    'state.reconnecting': 'Forbindelsen blev afbrudt — genopretter…',
    'role.staff': 'Sagsbehandler',
    'role.citizen': 'Borger',
    'peer.connected': 'er her',
    'peer.connecting': 'forbinder…',
    'peer.reconnecting': 'genopretter forbindelsen…',
    'quality.label': 'Forbindelse til {who}: {words}',
    'quality.good': 'god',
    'quality.fair': 'svag — billedet kan hakke',
    'quality.poor': 'dårlig — billedet kan fryse, lyden holder længst',
    'quality.unknown': 'måles…',
    'noCamera': 'Intet kamera eller mikrofon: de andre kan hverken se eller høre dig.',
    'noCameraInsecure': 'Siden vises ikke over https, så browseren giver den ikke kamera og mikrofon.',
    'onlyAudio': 'Intet kamera: de andre kan kun høre dig.',
    'ended.left': 'Du forlod mødet.',
    'ended.meeting_ended': 'Mødet er afsluttet.',
    'ended.meeting_expired': 'Mødet er udløbet.',
    'ended.taken_over': 'Mødet fortsætter i et andet vindue.',
    'ended.other': 'Mødet er slut.',
    'failed': 'Mødet mislykkedes: {why}.',
    'failed.meeting_full': 'mødet er fuldt (4 deltagere)',
    'failed.meeting_closed': 'mødet er afsluttet',
    'failed.invalid_token': 'adgangen blev afvist',
    'failed.no_network': 'serveren kan ikke nås',
    'failed.gave_up': 'forbindelsen kunne ikke genoprettes',
  },
  en: {
    'app.title': 'Samtale — caseworker',
    skip: 'Skip to content',
    'lang.switch': 'Dansk',
    'lang.switch.label': 'Skift til dansk',
    'signin.title': 'Sign in',
    'signin.token': 'Staff token',
    'signin.submit': 'Sign in',
    'signin.hint': 'The token stays in this browser tab only, until you close it or sign out.',
    'signin.empty': 'Enter the staff token.',
    'signin.wrong': 'Wrong staff token.',
    'signin.failed': 'Sign-in failed: {why}',
    'signin.again': 'The staff token was not accepted. Please sign in again.',
    'signout': 'Sign out',
    'meetings.title': 'Meetings',
    'meetings.create': 'Create meeting',
    'meetings.code': 'Code for the citizen',
    'meetings.valid': 'Valid until {time}',
    'meetings.link': 'Link for the citizen',
    'meetings.copy': 'Copy link',
    'meetings.copied': 'The link is copied.',
    'meetings.copyFailed': 'Could not copy. Select the link and copy it yourself.',
    'meetings.qr': 'QR code with the link to the meeting',
    'meetings.join': 'Join the call',
    'meetings.end': 'End meeting',
    'meetings.open': 'Open meetings',
    'meetings.refresh': 'Refresh',
    'meetings.none': 'No open meetings.',
    'meetings.select': 'Select',
    'meetings.selectCode': 'Select the meeting with code {code}',
    'meetings.until': 'until {time}',
    'meetings.people.one': '1 participant',
    'meetings.people.many': '{n} participants',
    'err.list': 'Could not list meetings',
    'err.create': 'Could not create a meeting',
    'err.end': 'Could not end the meeting',
    'err.join': 'Could not join',
    'err.network': 'The server cannot be reached.',
    'call.title': 'Video call',
    'call.you': 'You',
    'call.mute': 'Mute microphone',
    'call.unmute': 'Unmute microphone',
    'call.cameraOff': 'Turn camera off',
    'call.cameraOn': 'Turn camera on',
    'call.leave': 'Leave the call',
    'call.people': 'In the meeting',
    'call.nobody': 'Nobody else is here yet.',
    'state.connecting': 'Connecting…',
    'state.waiting': 'Waiting for the citizen',
    'state.in_call': 'In the call',
    'state.reconnecting': 'Connection lost — reconnecting…',
    'role.staff': 'Caseworker',
    'role.citizen': 'Citizen',
    'peer.connected': 'is here',
    'peer.connecting': 'connecting…',
    'peer.reconnecting': 'reconnecting…',
    'quality.label': 'Connection to {who}: {words}',
    'quality.good': 'good',
    'quality.fair': 'weak — the picture may stutter',
    'quality.poor': 'poor — the picture may freeze, sound lasts longest',
    'quality.unknown': 'measuring…',
    'noCamera': 'No camera or microphone: the others cannot see or hear you.',
    'noCameraInsecure': 'This page is not served over https, so the browser gives it no camera or microphone.',
    'onlyAudio': 'No camera: the others can only hear you.',
    'ended.left': 'You left the call.',
    'ended.meeting_ended': 'The meeting has ended.',
    'ended.meeting_expired': 'The meeting has expired.',
    'ended.taken_over': 'The call continues in another window.',
    'ended.other': 'The call has ended.',
    'failed': 'The call failed: {why}.',
    'failed.meeting_full': 'the meeting is full (4 participants)',
    'failed.meeting_closed': 'the meeting has ended',
    'failed.invalid_token': 'the ticket was refused',
    'failed.no_network': 'the server cannot be reached',
    'failed.gave_up': 'the connection could not be restored',
  },
};

const LANG_KEY = 'samtale.lang';
let lang = localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'da';

/** The current language: 'da' or 'en'. */
export function language() {
  return lang;
}

/** The text for `key`, with `{name}` placeholders filled from `params`. */
export function t(key, params = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.da[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ''));
}

/** Fills every element below `root` that names its text with data-i18n / data-i18n-label. */
export function applyStatic(root = document) {
  document.documentElement.lang = lang;
  document.title = t('app.title');
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  }
}

/** Switches language, remembers it, and re-renders the static text. */
export function setLanguage(next) {
  lang = next === 'en' ? 'en' : 'da';
  localStorage.setItem(LANG_KEY, lang);
  applyStatic();
}
