// Shows upload progress for forms marked data-progress="<id of a hidden .progress block>".
// Without JavaScript the form posts normally; with it, the same request goes through XHR so the
// browser can report bytes sent, and the server's answer replaces the page.
(function () {
  "use strict";
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !window.XMLHttpRequest) { return; }
      event.preventDefault();
      var block = document.getElementById(form.dataset.progress);
      var bar = block.querySelector("progress");
      block.hidden = false;
      var xhr = new XMLHttpRequest();
      xhr.open(form.method, form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.value = Math.round((e.loaded / e.total) * 90); }
      });
      xhr.upload.addEventListener("load", function () { bar.removeAttribute("value"); });
      xhr.addEventListener("load", function () {
        document.open();
        document.write(xhr.responseText);
        document.close();
      });
      xhr.addEventListener("error", function () { form.submit(); });
      xhr.send(new FormData(form));
    });
  });
})();
