// Counts down the quiz's remaining time (the server enforces the limit; this only informs).
(function () {
  "use strict";
  var timer = document.getElementById("quiz-timer");
  if (!timer) { return; }
  var value = document.getElementById("quiz-timer-value");
  var remaining = parseInt(timer.dataset.remaining, 10);
  var started = Date.now();
  setInterval(function () {
    var left = Math.max(0, remaining - Math.floor((Date.now() - started) / 1000));
    value.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
  }, 1000);
})();
