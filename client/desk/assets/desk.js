/* The desk's script: plain JavaScript, no framework, loaded with defer.
 *
 * - When a page that holds an access view is left, tell the desk (POST
 *   /leave with the page's CSRF token and its view), so the access event
 *   records how long the page stayed open.
 * - When the session's idle time (meta "idle", seconds) has passed since
 *   the page was loaded, the desk has signed the person out: the page is
 *   emptied and goes to /signin?expired=1, so patient data does not stay
 *   on a screen nobody is using. A page the browser brings back from its
 *   back/forward cache is loaded again, so it opens a view of its own
 *   (the old one was left, and its event written, when it was hidden).
 * - On the review page, the keyboard: j / k move to the next / previous
 *   conflict, ArrowLeft / ArrowRight take the first / second candidate of
 *   the conflict in focus. Keys typed into a field are left alone.
 */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* ---- leaving a page ---- */
  var view = document.body ? document.body.getAttribute("data-view") : null;
  var left = false;

  function leave() {
    if (!view || left || !navigator.sendBeacon) {
      return;
    }
    left = true;
    var form = new URLSearchParams();
    form.append("csrf", csrfToken());
    form.append("view", view);
    navigator.sendBeacon("/leave", form);
  }
  window.addEventListener("pagehide", leave);

  /* ---- signed out after the idle time ---- */
  var idleMeta = document.querySelector('meta[name="idle"]');
  var idleSeconds = idleMeta ? Number(idleMeta.getAttribute("content")) : 0;
  var deadline = 0;
  var timer = null;

  function signedOut() {
    if (document.body) {
      document.body.textContent = "";
    }
    location.replace("/signin?expired=1");
  }

  function checkIdle() {
    if (deadline && Date.now() >= deadline) {
      signedOut();
    }
  }

  function startIdle() {
    if (!(idleSeconds > 0)) {
      return;
    }
    /* the desk's clock started at this page's request, a moment before
     * this runs; two seconds more so the desk has ended the session when
     * /signin is asked for (a live one is sent on to /review) */
    deadline = Date.now() + idleSeconds * 1000 + 2000;
    if (timer) {
      clearTimeout(timer);
    }
    timer = setTimeout(checkIdle, idleSeconds * 1000 + 2000);
  }
  startIdle();
  /* timers of a hidden tab or a sleeping computer run late: look again
   * when the page is seen */
  document.addEventListener("visibilitychange", checkIdle);
  window.addEventListener("focus", checkIdle);

  /* ---- back/forward cache ---- */
  window.addEventListener("pageshow", function (ev) {
    if (!ev.persisted) {
      return;
    }
    /* a preview or a resolution was a form's answer: its record's page
     * is what to load again */
    left = false;
    location.replace(location.pathname.replace(/\/(preview|resolve)$/, "") +
                     (/\/(preview|resolve)$/.test(location.pathname) ? "" : location.search));
  });

  /* ---- the review page's keys ---- */
  function conflicts() {
    return Array.prototype.slice.call(document.querySelectorAll("section.conflict"));
  }

  function current(list) {
    var el = document.activeElement;
    while (el && el !== document.body) {
      if (el.matches && el.matches("section.conflict")) {
        return list.indexOf(el);
      }
      el = el.parentElement;
    }
    return -1;
  }

  function focusConflict(list, i) {
    if (i < 0 || i >= list.length) {
      return;
    }
    var section = list[i];
    if (!section.hasAttribute("tabindex")) {
      section.setAttribute("tabindex", "-1");
    }
    section.focus();
    section.scrollIntoView({ block: "nearest" });
  }

  function typing(el) {
    if (!el) {
      return false;
    }
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || typing(ev.target)) {
      return;
    }
    var list = conflicts();
    if (list.length === 0) {
      return;
    }
    var i = current(list);
    if (ev.key === "j") {
      focusConflict(list, i + 1);
      ev.preventDefault();
    } else if (ev.key === "k") {
      focusConflict(list, i < 0 ? 0 : i - 1);
      ev.preventDefault();
    } else if ((ev.key === "ArrowLeft" || ev.key === "ArrowRight") && i >= 0) {
      var buttons = list[i].querySelectorAll("button.take");
      var button = buttons[ev.key === "ArrowLeft" ? 0 : 1];
      if (button) {
        ev.preventDefault();
        button.click();
      }
    }
  });
})();
