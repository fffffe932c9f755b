/* The header menu (base.html), as progressive enhancement.

   Loaded in <head> without `defer`: it first marks <html> with the class "js", before the page
   is painted, so the stylesheet may fold the menu behind its button on a narrow screen (without
   this script the button stays hidden and the menu open). Once the page is read it wires:
   - the menu button: toggles the menu (aria-expanded); Escape closes it and returns to the button;
   - the groups of the main menu (<details class="nav-group__details">), which open and close
     without script too: Escape closes an open group and returns to its summary, and a group
     closes when a click or the keyboard focus goes elsewhere. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function setUpMenuButton() {
    var button = document.querySelector(".menu-button");
    var menu = button && document.getElementById(button.getAttribute("aria-controls"));
    if (!button || !menu) {
      return;
    }
    function setOpen(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("is-open", open);
    }
    button.addEventListener("click", function () {
      setOpen(button.getAttribute("aria-expanded") !== "true");
    });
    menu.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true"
          && window.getComputedStyle(button).display !== "none") {
        setOpen(false);
        button.focus();
      }
    });
  }

  function setUpGroups() {
    var groups = Array.prototype.slice.call(document.querySelectorAll(".nav-group__details"));
    groups.forEach(function (group) {
      var summary = group.querySelector("summary");
      group.addEventListener("keydown", function (event) {
        if (event.key === "Escape" && group.open) {
          event.stopPropagation();  // the menu around it stays open
          group.open = false;
          summary.focus();
        }
      });
      group.addEventListener("focusout", function (event) {
        if (group.open && event.relatedTarget && !group.contains(event.relatedTarget)) {
          group.open = false;
        }
      });
      group.addEventListener("toggle", function () {
        if (group.open) {
          groups.forEach(function (other) {
            if (other !== group) {
              other.open = false;
            }
          });
        }
      });
    });
    document.addEventListener("click", function (event) {
      groups.forEach(function (group) {
        if (group.open && !group.contains(event.target)) {
          group.open = false;
        }
      });
    });
  }

  function setUp() {
    setUpMenuButton();
    setUpGroups();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
}());
