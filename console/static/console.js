// Small progressive enhancements; every form works without them.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    const canned = document.getElementById("canned");
    const reply = document.getElementById("reply-text");
    if (canned && reply) {
      canned.addEventListener("change", function () {
        if (canned.value) reply.value = canned.value;
      });
    }
    document.querySelectorAll("[data-confirm]").forEach(function (btn) {
      btn.addEventListener("click", function (ev) {
        if (!window.confirm(btn.dataset.confirm)) ev.preventDefault();
      });
    });
  });
})();
