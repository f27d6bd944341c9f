// mamp-bench site: sorting, filtering and the choice of two methods, as an enhancement. Every page reads
// without this script (its tables are plain HTML, all rows shown); it makes no request of any kind.
"use strict";

(function () {
  var DASH = "\u2014";

  // -- sorting: a button in each column header; numbers descending first, then ascending, then as written --
  function sortKey(cell) {
    if (!cell) return null;
    var value = cell.getAttribute("data-sort");
    if (value !== null && value !== "") {
      var number = Number(value);
      return isNaN(number) ? value.toLowerCase() : number;
    }
    var text = cell.textContent.trim();
    if (text === "" || text === DASH) return null;
    var asNumber = Number(text.replace("\u2212", "-"));
    return isNaN(asNumber) ? text.toLowerCase() : asNumber;
  }

  function compareKeys(a, b, direction) {
    if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1; // empty cells last, either way
    if (typeof a !== typeof b) return typeof a === "number" ? -1 : 1;
    return (a < b ? -1 : a > b ? 1 : 0) * direction;
  }

  function makeSortable(table) {
    var head = table.tHead, body = table.tBodies[0];
    if (!head || !body) return;
    var headers = Array.prototype.slice.call(head.rows[head.rows.length - 1].cells);
    Array.prototype.forEach.call(body.rows, function (row, i) { row.setAttribute("data-order", i); });
    headers.forEach(function (th, column) {
      var numeric = th.hasAttribute("data-numeric");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = "\u2195";
      button.setAttribute("aria-label", "sort by " + th.textContent.trim());
      th.appendChild(button);
      button.addEventListener("click", function () {
        var now = th.getAttribute("aria-sort") || "none";
        var order = numeric ? ["none", "descending", "ascending"] : ["none", "ascending", "descending"];
        var next = order[(order.indexOf(now) + 1) % order.length];
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var byOrder = Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order"));
          if (next === "none") return byOrder;
          var direction = next === "ascending" ? 1 : -1;
          return compareKeys(sortKey(a.cells[column]), sortKey(b.cells[column]), direction) || byOrder;
        });
        if (next !== "none") th.setAttribute("aria-sort", next);
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  // -- filtering: checkboxes hide the rows and sections whose facet value is unticked --
  function makeFilters(form) {
    form.hidden = false;
    var search = form.querySelector("[data-search]");
    function update() {
      var off = {};
      Array.prototype.forEach.call(form.querySelectorAll("input[data-facet]"), function (box) {
        if (!box.checked) (off[box.getAttribute("data-facet")] = off[box.getAttribute("data-facet")] || []).push(box.value);
      });
      var text = search ? search.value.trim().toLowerCase() : "";
      function hidden(element) {
        return Object.keys(off).some(function (facet) {
          var value = element.getAttribute("data-" + facet);
          return value !== null && off[facet].indexOf(value) >= 0;
        });
      }
      Array.prototype.forEach.call(document.querySelectorAll("section[data-section]"), function (section) {
        section.hidden = hidden(section);
      });
      Array.prototype.forEach.call(document.querySelectorAll("tr[data-kind]"), function (row) {
        var name = row.querySelector("th") ? row.querySelector("th").textContent.toLowerCase() : "";
        row.hidden = hidden(row) || (text !== "" && name.indexOf(text) < 0);
      });
    }
    form.addEventListener("change", update);
    form.addEventListener("input", update);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    update();
  }

  // -- the comparison page: show the pair chosen in the form --
  function makePicker(form) {
    form.hidden = false;
    var none = document.getElementById("pair-none"), swapped = document.getElementById("pair-swapped");
    function update() {
      var table = form.elements.table.value, a = form.elements.a.value, b = form.elements.b.value;
      var id = "pair-" + table + "-" + a + "-" + b, reverse = "pair-" + table + "-" + b + "-" + a;
      var shown = document.getElementById(id) ? id : document.getElementById(reverse) ? reverse : null;
      Array.prototype.forEach.call(document.querySelectorAll("section.pair"), function (section) {
        section.hidden = section.id !== shown;
      });
      none.hidden = shown !== null;
      swapped.hidden = shown !== reverse || a === b;
    }
    form.addEventListener("change", update);
    update();
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
  Array.prototype.forEach.call(document.querySelectorAll("form.filters"), makeFilters);
  Array.prototype.forEach.call(document.querySelectorAll("form.pick"), makePicker);
})();
