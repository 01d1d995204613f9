// flowwatch dashboard: progressive enhancement only. Every page works
// without this script.
(function () {
  'use strict';

  // The viewer's time zone, for the server to render times in: a cookie
  // read on the next page load. The first page shows UTC.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.indexOf('fw_tz=' + encodeURIComponent(tz)) === -1) {
      document.cookie = 'fw_tz=' + encodeURIComponent(tz) + '; path=/; max-age=31536000; SameSite=Lax';
      // Re-render once in the right zone, unless the page was posted.
      if (tz !== 'UTC' && !sessionStorage.getItem('fw_tz_reload')) {
        sessionStorage.setItem('fw_tz_reload', '1');
        location.reload();
        return;
      }
    }
  } catch (e) { /* no Intl or no cookies: times stay in UTC */ }

  // Auto-refresh: pages that show live figures carry data-refresh
  // (seconds). The viewer can pause it; the choice is remembered.
  var body = document.body;
  var every = parseInt(body.getAttribute('data-refresh') || '0', 10);
  var toggle = document.querySelector('[data-refresh-toggle]');
  if (every > 0 && toggle) {
    var paused = localStorage.getItem('fw_refresh_paused') === '1';
    var timer = null;
    var render = function () {
      toggle.setAttribute('aria-pressed', paused ? 'false' : 'true');
      toggle.textContent = paused ? 'Auto-refresh paused' : 'Auto-refresh on';
    };
    var schedule = function () {
      if (timer) { clearTimeout(timer); timer = null; }
      if (!paused) {
        timer = setTimeout(function () {
          // Do not reload under the viewer's hands.
          var a = document.activeElement;
          if (a && (a.tagName === 'INPUT' || a.tagName === 'SELECT' || a.tagName === 'TEXTAREA')) { schedule(); return; }
          location.reload();
        }, every * 1000);
      }
    };
    toggle.hidden = false;
    toggle.addEventListener('click', function () {
      paused = !paused;
      localStorage.setItem('fw_refresh_paused', paused ? '1' : '0');
      render();
      schedule();
    });
    render();
    schedule();
  }

  // Copy buttons next to commands.
  document.querySelectorAll('[data-copy]').forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener('click', function () {
      var el = document.getElementById(btn.getAttribute('data-copy'));
      if (!el || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(el.textContent).then(function () {
        btn.textContent = 'Copied';
        setTimeout(function () { btn.textContent = 'Copy'; }, 1500);
      });
    });
  });

  // A link to a span opens its folded details.
  var openTarget = function () {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (el && el.tagName === 'DETAILS') { el.open = true; }
  };
  window.addEventListener('hashchange', openTarget);
  openTarget();

  // Keyboard: j/k move through table rows that link somewhere, Enter opens.
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr[data-href]'));
  var at = -1;
  document.addEventListener('keydown', function (ev) {
    if (ev.target && /INPUT|SELECT|TEXTAREA/.test(ev.target.tagName)) { return; }
    if (!rows.length || ev.metaKey || ev.ctrlKey || ev.altKey) { return; }
    if (ev.key === 'j' || ev.key === 'k') {
      at = ev.key === 'j' ? Math.min(rows.length - 1, at + 1) : Math.max(0, at - 1);
      rows.forEach(function (r) { r.classList.remove('sel'); });
      rows[at].classList.add('sel');
      var a = rows[at].querySelector('a');
      if (a) { a.focus(); }
    }
  });
}());
