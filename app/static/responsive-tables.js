/* Tables on narrow screens, as progressive enhancement (the styles are in app.css).

   1. A `table.responsive` becomes a stack of cards below 40rem, one card per row, each cell
      preceded by its column's header. This script writes that header into the cell's data-label
      (unless the template already did) and then marks the table `data-cards`, which is what the
      stylesheet waits for: without this script the table keeps its columns and scrolls sideways in
      its .table-wrap. It also states the table roles explicitly, since some browsers drop them from
      a table that is no longer laid out as one.
   2. A .table-wrap whose table is wider than the screen scrolls sideways; while it does, it is
      made reachable from the keyboard (tabindex=0) and named after its table, so the arrow keys
      can scroll it. */
(function () {
  "use strict";

  function text(element) {
    // innerText, so that a <br> in a header reads as a space
    return element ? (element.innerText || element.textContent).replace(/\s+/g, " ").trim() : "";
  }

  function columnLabels(table) {
    var rows = table.tHead ? table.tHead.rows : [];
    var labels = [];
    if (!rows.length) {
      return labels;
    }
    Array.prototype.forEach.call(rows[rows.length - 1].cells, function (cell) {
      for (var i = 0; i < (cell.colSpan || 1); i += 1) {
        labels.push(text(cell));
      }
    });
    return labels;
  }

  function setRole(element, role) {
    if (!element.hasAttribute("role")) {
      element.setAttribute("role", role);
    }
  }

  function makeCards(table) {
    var labels = columnLabels(table);
    setRole(table, "table");
    Array.prototype.forEach.call(table.querySelectorAll(":scope > thead, :scope > tbody, :scope > tfoot"),
      function (group) { setRole(group, "rowgroup"); });
    Array.prototype.forEach.call(table.rows, function (row) {
      var column = 0;
      setRole(row, "row");
      Array.prototype.forEach.call(row.cells, function (cell) {
        var span = cell.colSpan || 1;
        var inHead = row.parentNode === table.tHead;
        if (cell.tagName === "TH") {
          setRole(cell, inHead || cell.scope === "col" ? "columnheader" : "rowheader");
        } else {
          setRole(cell, "cell");
          if (span === 1 && labels[column] && !cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", labels[column]);
          }
          if (span > 1) {
            cell.classList.add("cell--whole");
          }
        }
        column += span;
      });
    });
    table.setAttribute("data-cards", "");
  }

  function wrapName(wrap) {
    var table = wrap.querySelector("table");
    if (!table) {
      return "";
    }
    if (table.caption) {
      return text(table.caption);
    }
    if (table.getAttribute("aria-label")) {
      return table.getAttribute("aria-label");
    }
    var labelledBy = table.getAttribute("aria-labelledby");
    if (labelledBy) {
      return text(document.getElementById(labelledBy));
    }
    // The heading the table sits under: the nearest one before it in the page.
    var headings = document.querySelectorAll("main h1, main h2, main h3, main h4");
    var name = "";
    Array.prototype.forEach.call(headings, function (heading) {
      if (heading.compareDocumentPosition(wrap) & Node.DOCUMENT_POSITION_FOLLOWING) {
        name = text(heading);
      }
    });
    return name;
  }

  function updateScrolling(wrap) {
    var scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
    if (scrolls && !wrap.hasAttribute("tabindex")) {
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", wrapName(wrap) || document.title);
      wrap.setAttribute("data-scrolls", "");
    } else if (!scrolls && wrap.hasAttribute("data-scrolls")) {
      ["tabindex", "role", "aria-label", "data-scrolls"].forEach(function (name) {
        wrap.removeAttribute(name);
      });
    }
  }

  function setUp() {
    Array.prototype.forEach.call(document.querySelectorAll("table.responsive"), makeCards);
    var wraps = Array.prototype.slice.call(document.querySelectorAll(".table-wrap"));
    wraps.forEach(updateScrolling);
    if (window.ResizeObserver) {
      var observer = new ResizeObserver(function (entries) {
        entries.forEach(function (entry) { updateScrolling(entry.target); });
      });
      wraps.forEach(function (wrap) { observer.observe(wrap); });
    } else {
      window.addEventListener("resize", function () { wraps.forEach(updateScrolling); });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
}());
