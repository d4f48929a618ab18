/* The segment editor: a small builder over the rule's JSON textarea, and the live count and sample.
 *
 * No build step and no library: the textarea stays the source of truth (the form posts it and the server checks
 * it against the schema); the builder reads it, lets staff pick fields and operators from the schema the page
 * carries (#segment-schema), and writes it back. Values are typed as JSON. The count asks the console's preview
 * endpoint, which answers with the same errors the save would give.
 */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    var editor = document.getElementById("segment-editor");
    var textarea = document.querySelector("textarea[name=rule]");
    var schemaNode = document.getElementById("segment-schema");
    if (!editor || !textarea || !schemaNode) return;  // a read-only page: the rule is shown as text
    var schema = JSON.parse(schemaNode.textContent);
    var builder = document.getElementById("segment-builder");
    var countNode = document.getElementById("segment-count");
    var errorsNode = document.getElementById("segment-errors");
    var sample = document.getElementById("segment-sample");
    var storeSelect = document.querySelector("select[name=store]");
    var csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
    var rule = null;
    var timer = null;
    editor.hidden = false;

    function el(tag, attrs, children) {
      var node = document.createElement(tag);
      Object.keys(attrs || {}).forEach(function (key) {
        if (key === "text") node.textContent = attrs[key]; else node.setAttribute(key, attrs[key]);
      });
      (children || []).forEach(function (child) { node.appendChild(child); });
      return node;
    }

    function select(options, value, onChange) {
      var node = el("select");
      options.forEach(function (option) {
        var item = el("option", {value: option[0], text: option[1]});
        if (option[0] === value) item.selected = true;
        node.appendChild(item);
      });
      node.addEventListener("change", function () { onChange(node.value); });
      return node;
    }

    function jsonInput(value, placeholder, onChange) {
      var node = el("input", {type: "text", placeholder: placeholder});
      node.value = value === undefined ? "" : JSON.stringify(value);
      node.addEventListener("change", function () {
        if (node.value.trim() === "") { onChange(undefined); return; }
        try { onChange(JSON.parse(node.value)); node.classList.remove("errors"); }
        catch (e) { node.classList.add("errors"); }
      });
      return node;
    }

    function newCondition() {
      var name = Object.keys(schema.fields)[0];
      return {field: name, op: Object.keys(schema.fields[name].ops)[0], value: []};
    }

    function renderCondition(condition, remove) {
      var spec = schema.fields[condition.field];
      var row = el("div", {"class": "segment-condition"});
      var fields = Object.keys(schema.fields).map(function (name) { return [name, schema.fields[name].label]; });
      if (!spec) fields.unshift([condition.field, condition.field]);
      row.appendChild(select(fields, condition.field, function (name) {
        condition.field = name;
        condition.op = Object.keys(schema.fields[name].ops)[0];
        Object.keys(condition).forEach(function (key) {
          if (["field", "op", "value"].indexOf(key) < 0) delete condition[key];
        });
        changed(true);
      }));
      if (spec) {
        row.appendChild(select(Object.keys(spec.ops).map(function (op) { return [op, op]; }), condition.op,
          function (op) { condition.op = op; if (spec.ops[op] === "none") delete condition.value; changed(true); }));
        if (spec.ops[condition.op] !== "none") {
          row.appendChild(jsonInput(condition.value, spec.ops[condition.op], function (value) {
            condition.value = value; changed(false);
          }));
        }
        Object.keys(spec.params).forEach(function (param) {
          row.appendChild(document.createTextNode(" " + param + " "));
          row.appendChild(jsonInput(condition[param], spec.params[param], function (value) {
            if (value === undefined) delete condition[param]; else condition[param] = value;
            changed(false);
          }));
        });
        row.appendChild(el("span", {"class": "help", title: spec.help, text: " ?"}));
      }
      var button = el("button", {type: "button", "class": "button", text: "×"});
      button.addEventListener("click", remove);
      row.appendChild(button);
      return row;
    }

    function renderGroup(group, remove) {
      var box = el("div", {"class": "segment-group"});
      var matches = Object.keys(schema.matches).map(function (key) { return [key, schema.matches[key]]; });
      box.appendChild(select(matches, group.match, function (match) { group.match = match; changed(false); }));
      (group.conditions || []).forEach(function (item, index) {
        var drop = function () { group.conditions.splice(index, 1); changed(true); };
        box.appendChild(item && item.conditions && !item.field ? renderGroup(item, drop) : renderCondition(item, drop));
      });
      var addCondition = el("button", {type: "button", "class": "button", text: "+ " + gettext("condition")});
      addCondition.addEventListener("click", function () { group.conditions.push(newCondition()); changed(true); });
      var addGroup = el("button", {type: "button", "class": "button", text: "+ " + gettext("group")});
      addGroup.addEventListener("click", function () {
        group.conditions.push({match: "any", conditions: [newCondition()]}); changed(true);
      });
      box.appendChild(el("div", {}, [addCondition, addGroup]));
      if (remove) {
        var drop = el("button", {type: "button", "class": "button", text: "× " + gettext("group")});
        drop.addEventListener("click", remove);
        box.appendChild(drop);
      }
      return box;
    }

    function gettext(text) { return (schema.labels || {})[text] || text; }  // the page's language, from the schema

    function render() {
      builder.textContent = "";
      try {
        rule = JSON.parse(textarea.value || "{}");
      } catch (e) {
        rule = null;
        builder.appendChild(el("p", {"class": "errornote", text: e.message}));
        return;
      }
      if (!rule || typeof rule !== "object" || !Array.isArray(rule.conditions)) {
        rule = {match: "all", conditions: []};
      }
      builder.appendChild(renderGroup(rule, null));
    }

    function changed(rerender) {
      textarea.value = JSON.stringify(rule, null, 2);
      if (rerender) render();
      schedule();
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(count, 600);
    }

    function count() {
      var body;
      try { body = {rule: JSON.parse(textarea.value), store: storeSelect && storeSelect.value ? Number(storeSelect.value) : null}; }
      catch (e) { return; }
      countNode.textContent = "…";
      fetch(editor.dataset.previewUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.value : ""},
        body: JSON.stringify(body)
      }).then(function (response) { return response.json(); }).then(function (answer) {
        errorsNode.textContent = "";
        sample.hidden = true;
        if (answer.error) {
          countNode.textContent = answer.error.message;
          ((answer.error.fields || {}).rule || []).forEach(function (message) {
            errorsNode.appendChild(el("li", {text: message}));
          });
          return;
        }
        countNode.textContent = answer.count.toLocaleString();
        var rows = sample.querySelector("tbody");
        rows.textContent = "";
        answer.sample.forEach(function (member) {
          rows.appendChild(el("tr", {}, [member.member_number, member.name, member.tier, member.home_store,
            member.last_purchase_at || "-"].map(function (text) { return el("td", {text: text}); })));
        });
        sample.hidden = answer.sample.length === 0;
      }).catch(function () { countNode.textContent = "?"; });
    }

    textarea.addEventListener("change", function () { render(); schedule(); });
    if (storeSelect) storeSelect.addEventListener("change", schedule);
    document.getElementById("segment-count-button").addEventListener("click", count);
    render();
    if (rule && rule.conditions.length) schedule();
  });
})();
