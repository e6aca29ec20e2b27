// The sign-in page: exchanges a token for the console's session cookie.
// It is also what the server answers (with status 401) for a console page
// requested without a session; after signing in the requested page is loaded.

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');
const title = document.getElementById('login-title');

const nav = performance.getEntriesByType('navigation')[0];
if (nav && nav.responseStatus === 200) title.textContent = 'Sign in';

function showError(text) {
  error.textContent = text;
  error.hidden = false;
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  error.hidden = true;
  const token = document.getElementById('token').value;
  let res;
  try {
    res = await fetch('/api/v1/session', {
      method: 'POST',
      headers: {'Content-Type': 'application/json', 'X-Lockstep-Console': '1'},
      body: JSON.stringify({token}),
      credentials: 'same-origin',
    });
  } catch (e) {
    showError('The worker did not answer: ' + e.message);
    return;
  }
  if (res.status === 204 || res.ok) {
    // Served in place of a console page: load that page; else the console's start.
    if (location.pathname === '/console/login') location.assign('/console/' + location.hash);
    else location.reload();
    return;
  }
  let message = res.status === 401 ? 'unknown token' : 'sign-in failed (HTTP ' + res.status + ')';
  try {
    const body = await res.json();
    if (body && typeof body.message === 'string') message = body.message;
  } catch (e) { /* not JSON: keep the status line */ }
  showError(message);
});
