// Searchable pickers: a text input marked data-picker="people", "units" or "courses" becomes a
// combobox with a list of matches (the WAI-ARIA Authoring Practices' combobox with list
// autocomplete and manual selection). Typing part of a name, kana or code asks the server
// (debounced; app/web/pickers.py answers JSON); Up and Down move through the matches, Enter writes
// the chosen code into the input, Escape closes the list, Tab leaves it. With
// data-picker-multiple the input holds several codes separated by spaces or commas and the picker
// completes the last one. With data-picker-append-to="ID" the input only finds people: each choice
// is added as a new line of the textarea ID (a list one may also paste into), and the input empties
// for the next; such an input sits in an element marked data-picker-only, hidden until this script
// shows it (without the script the textarea alone is the way, as it always was).
//
// Progressive enhancement: without this script the input is the plain text field it always was,
// and the server's validation of the code is the same either way. The search addresses and the
// messages (in the page's language) come from this script element's data-* attributes
// (the picker_script() macro in app/templates/_forms.html).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.fetch || !document.querySelector) { return; }
  var config = script.dataset;
  var DELAY_MS = 250;
  var SEPARATORS = /[\s,、]+/;
  var made = 0;

  function message(name, count) {
    return (config[name] || "").replace("{count}", String(count));
  }

  function capitalised(word) {
    return word.charAt(0).toUpperCase() + word.slice(1);
  }

  function enhance(input) {
    var kind = input.getAttribute("data-picker");
    var url = config[kind];
    if (!url || input.getAttribute("role") === "combobox") { return; }
    var multiple = input.hasAttribute("data-picker-multiple");
    var appendTo = input.getAttribute("data-picker-append-to");
    made += 1;
    if (!input.id) { input.id = "picker-" + made; }
    var id = input.id;

    var wrapper = document.createElement("div");
    wrapper.className = "picker";
    input.parentNode.insertBefore(wrapper, input);
    wrapper.appendChild(input);

    var hint = document.createElement("p");
    hint.className = "hint picker__hint";
    hint.id = id + "-picker-hint";
    hint.textContent = config["hint" + capitalised(kind)] || "";
    wrapper.parentNode.insertBefore(hint, wrapper);

    var list = document.createElement("ul");
    list.id = id + "-listbox";
    list.className = "picker__list";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    // Named "Suggestions" rather than by the field's label: one label naming two controls
    // confuses "find the field labelled X" (screen readers' form lists, tests alike).
    list.setAttribute("aria-label", config.suggestions || "Suggestions");
    wrapper.appendChild(list);

    var status = document.createElement("p");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    wrapper.appendChild(status);

    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    described.unshift(hint.id);
    input.setAttribute("aria-describedby", described.join(" "));
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("autocomplete", "off");
    input.setAttribute("spellcheck", "false");

    var choices = [];
    var active = -1;
    var timer = null;
    var asked = 0;  // the number of the latest search: an older answer arriving late is dropped

    function isOpen() { return !list.hidden; }

    function open() {
      if (!choices.length) { return; }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      highlight(-1);
    }

    function highlight(index) {
      var options = list.children;
      if (active >= 0 && options[active]) { options[active].setAttribute("aria-selected", "false"); }
      active = index;
      if (active >= 0 && options[active]) {
        options[active].setAttribute("aria-selected", "true");
        input.setAttribute("aria-activedescendant", options[active].id);
        options[active].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function tokenStart() {
      if (!multiple) { return 0; }
      var value = input.value;
      var start = 0;
      var match;
      var pattern = new RegExp(SEPARATORS.source, "g");
      while ((match = pattern.exec(value)) !== null) { start = match.index + match[0].length; }
      return start;
    }

    function searchTerm() {
      return input.value.slice(tokenStart()).trim();
    }

    function show(results, more) {
      choices = results;
      list.textContent = "";
      active = -1;
      results.forEach(function (choice, index) {
        var option = document.createElement("li");
        option.id = id + "-option-" + index;
        option.className = "picker__option";
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        var name = document.createElement("span");
        name.className = "picker__label";
        name.textContent = choice.label;
        var code = document.createElement("span");
        code.className = "picker__code";
        code.textContent = choice.value;
        option.appendChild(name);
        option.appendChild(code);
        if (choice.detail) {
          var detail = document.createElement("span");
          detail.className = "picker__detail";
          detail.textContent = choice.detail;
          option.appendChild(detail);
        }
        option.addEventListener("mousedown", function (event) { event.preventDefault(); });  // keep the focus
        option.addEventListener("click", function () { choose(index); });
        list.appendChild(option);
      });
      if (results.length) {
        open();
        status.textContent = more ? message("more", results.length) : message("found", results.length);
      } else {
        close();
        status.textContent = message("none", 0);
      }
    }

    function fail(text) {
      choices = [];
      list.textContent = "";
      close();
      status.textContent = text || message("failed", 0);
    }

    function search() {
      var term = searchTerm();
      asked += 1;
      var mine = asked;
      if (!term) { choices = []; list.textContent = ""; close(); return; }
      fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + "q=" + encodeURIComponent(term), {
        credentials: "same-origin", headers: { Accept: "application/json" }
      }).then(function (response) {
        var json = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (!json) { return { failed: true }; }  // signed out meanwhile: the sign-in page
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      }).then(function (answer) {
        if (mine !== asked) { return; }
        if (answer.failed || !answer.ok) { fail(answer.data && answer.data.error); return; }
        show(answer.data.results || [], Boolean(answer.data.more));
      }).catch(function () {
        if (mine === asked) { fail(); }
      });
    }

    function choose(index) {
      var choice = choices[index];
      if (!choice) { return; }
      var target = appendTo ? document.getElementById(appendTo) : null;
      if (target) {
        var lines = target.value.replace(/\s+$/, "");
        target.value = (lines ? lines + "\n" : "") + choice.value + "\n";
        input.value = "";
      } else {
        input.value = multiple ? input.value.slice(0, tokenStart()) + choice.value + " " : choice.value;
      }
      asked += 1;  // an answer still on its way must not reopen the list
      clearTimeout(timer);
      close();
      status.textContent = message("chosen", 0).replace("{label}", choice.label).replace("{code}", choice.value);
      input.focus();
      var end = input.value.length;
      input.setSelectionRange(end, end);
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, DELAY_MS);
    });

    input.addEventListener("keydown", function (event) {
      if (event.isComposing || event.keyCode === 229) { return; }  // an IME is converting kana: its keys
      switch (event.key) {
        case "ArrowDown":
          if (!isOpen() && !choices.length) {
            clearTimeout(timer);
            search();  // nothing found yet: look now
          } else if (!isOpen()) {
            open();
            if (!event.altKey) { highlight(0); }
          } else {
            highlight(active + 1 < choices.length ? active + 1 : 0);
          }
          event.preventDefault();
          break;
        case "ArrowUp":
          if (isOpen()) {
            highlight(active > 0 ? active - 1 : choices.length - 1);
            event.preventDefault();
          }
          break;
        case "Enter":
          if (isOpen() && active >= 0) {
            choose(active);
            event.preventDefault();  // pick, do not submit the form
          }
          break;
        case "Escape":
          if (isOpen()) {
            close();
            event.preventDefault();
          }
          break;
        case "Tab":
          close();
          break;
        default:
          break;
      }
    });

    input.addEventListener("blur", function () { close(); });
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-picker-only]"), function (element) {
    element.hidden = false;
  });
  Array.prototype.forEach.call(document.querySelectorAll("input[data-picker]"), enhance);
})();
