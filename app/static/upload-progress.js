// Shows upload progress for forms marked data-progress="<id of a hidden .progress block>".
// Progressive enhancement: without JavaScript (or without XHR) the form posts normally. With it,
// the same request goes through XHR so the browser can report the bytes sent: the block's
// <progress> follows them, and an element with the id "<block id>-status" (role="status", kept in
// the page so screen readers announce its changes) says "sending", then "done" once every byte is
// sent (its texts come from the page: data-sending, data-done). The block's data-state says the
// same. The server's answer (after its redirect) then replaces the page; should the request fail
// on the way, the form is posted the ordinary way instead.
(function () {
  "use strict";

  function show(block, status, state) {
    block.dataset.state = state;
    if (status && status.dataset[state]) { status.textContent = status.dataset[state]; }
  }

  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    var block = document.getElementById(form.dataset.progress);
    if (!block || !window.FormData || !window.XMLHttpRequest) { return; }
    var bar = block.querySelector("progress");
    var status = document.getElementById(form.dataset.progress + "-status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(form);
      if (event.submitter && event.submitter.name) { data.append(event.submitter.name, event.submitter.value); }
      var buttons = form.querySelectorAll("button[type=submit], input[type=submit]");
      buttons.forEach(function (button) { button.disabled = true; });  // one request, not two
      block.hidden = false;
      bar.max = 100;
      bar.value = 0;
      bar.textContent = "0%";
      show(block, status, "sending");
      var xhr = new XMLHttpRequest();
      xhr.open(form.method, form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          bar.value = Math.min(100, Math.round((e.loaded / e.total) * 100));
          bar.textContent = bar.value + "%";
        }
      });
      xhr.upload.addEventListener("load", function () {
        bar.value = 100;
        bar.textContent = "100%";
        show(block, status, "done");
      });
      xhr.addEventListener("load", function () {
        if (xhr.responseURL && new URL(xhr.responseURL).origin === window.location.origin) {
          window.history.replaceState(null, "", xhr.responseURL);  // where the redirect led
        }
        document.open();
        document.write(xhr.responseText);
        document.close();
      });
      xhr.addEventListener("error", function () {
        buttons.forEach(function (button) { button.disabled = false; });
        form.submit();
      });
      xhr.send(data);
    });
  });
})();
