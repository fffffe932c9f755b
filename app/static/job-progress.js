// Keeps a job page (jobs/show.html) current without reloading it: every two seconds it fetches
// the page again and copies the progress bar and count across. When the job moves to another
// step or ends, it loads the page again to show that step or the result. Without JavaScript a
// meta refresh in <noscript> reloads the page every two seconds instead.
(function () {
  "use strict";
  var status = document.getElementById("job-status");
  if (!status || status.dataset.finished === "true" || !window.fetch || !window.DOMParser) { return; }

  function apply(fresh) {
    if (!fresh || fresh.dataset.state !== status.dataset.state || fresh.dataset.phase !== status.dataset.phase) {
      window.location.reload();
      return false;
    }
    var bar = status.querySelector("progress");
    var freshBar = fresh.querySelector("progress");
    if (bar && freshBar && freshBar.hasAttribute("value")) {
      bar.max = Number(freshBar.getAttribute("max"));
      bar.value = Number(freshBar.getAttribute("value"));
      bar.textContent = freshBar.textContent;
    }
    var count = status.querySelector("[data-count]");
    var freshCount = fresh.querySelector("[data-count]");
    if (count && freshCount) { count.textContent = freshCount.textContent; }
    return true;
  }

  function poll() {
    window.fetch(window.location.href, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (text) {
        var page = new window.DOMParser().parseFromString(text, "text/html");
        if (apply(page.getElementById("job-status"))) { window.setTimeout(poll, 2000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  window.setTimeout(poll, 2000);
})();
