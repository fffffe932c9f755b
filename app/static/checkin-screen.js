// Keeps the instructor's check-in code current: asks the server every few seconds.
(function () {
  "use strict";
  var screen = document.querySelector(".checkin-screen");
  if (!screen) { return; }
  var code = document.getElementById("checkin-code");
  var seconds = document.getElementById("checkin-seconds");
  var present = document.getElementById("checkin-present");
  function refresh() {
    fetch(screen.dataset.codeUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        code.textContent = data.code;
        seconds.textContent = data.seconds;
        present.textContent = data.present;
      });
  }
  setInterval(refresh, 5000);
  setInterval(function () {
    var n = parseInt(seconds.textContent, 10);
    if (n > 0) { seconds.textContent = n - 1; }
  }, 1000);
})();
