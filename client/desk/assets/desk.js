/* The desk's script: plain JavaScript, no framework, loaded with defer.
 *
 * - When a page that holds an access view is left, tell the desk (POST
 *   /leave with the page's CSRF token and its view), so the access event
 *   records how long the page stayed open.
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
