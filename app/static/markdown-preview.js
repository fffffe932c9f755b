// Live preview for Markdown editors: the server renders and sanitises (the same code as the
// published page), so the preview never shows what the page would not.
(function () {
  "use strict";
  var target = document.getElementById("markdown-preview");
  if (!target) { return; }
  var source = document.getElementById(target.dataset.source);
  var form = source.form;
  var token = form.querySelector("input[name=csrf_token]").value;
  var timer = null;
  function render() {
    var body = new FormData();
    body.append("csrf_token", token);
    body.append("body_md", source.value);
    fetch(target.dataset.previewUrl, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { target.innerHTML = data.html; } });
  }
  source.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(render, 300);
  });
  render();
})();
