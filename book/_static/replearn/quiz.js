/* replearn quiz: static, kernel-free checked questions (replearn_core/book/display.py, quiz()).
 *
 * Every <div class="rl-quiz" data-rl-quiz="{json}"> of the page becomes an answer box: a number
 * field (right when within the tolerance of the answer) or one radio button per choice, a
 * "Check" button, and a verdict line (role="status") that says right or wrong, with the
 * explanation, or the choice's own feedback and a "Show the answer" button. No dependency, no
 * network: works from file:// and http. Loaded on every page by _config.yml (html_js_files).
 * Test hooks: each quiz root gets data-rl-quiz-ready="true" and its verdict data-verdict
 * ("right" / "wrong" / "invalid").
 */
(function () {
  "use strict";

  function el(tag, attrs, html) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (html !== undefined) e.innerHTML = html;  // trusted: built by quiz() with escaping
    return e;
  }

  /* "0.5", "-1e-3", "1,5" (decimal comma), "\u22121" (Unicode minus), "1 234" -> number or NaN */
  function parseNumber(text) {
    var t = String(text).trim().replace(/\u2212/g, "-").replace(/[\s\u00a0\u202f]/g, "");
    if (t.indexOf(",") >= 0 && t.indexOf(".") < 0) t = t.replace(",", ".");
    else t = t.replace(/,/g, "");
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return NaN;
    return Number(t);
  }

  function typeset(node) {
    var mj = window.MathJax;
    if (mj && typeof mj.typesetPromise === "function") {
      mj.typesetPromise([node]).catch(function () { /* math stays as TeX source */ });
    }
  }

  function mount(root, index) {
    var data;
    try {
      data = JSON.parse(root.getAttribute("data-rl-quiz"));
    } catch (err) {
      root.setAttribute("data-rl-quiz-ready", "error");
      return;
    }
    if (data.version !== 1) {
      root.setAttribute("data-rl-quiz-ready", "error");
      return;
    }
    var fallback = root.querySelector(".rl-quiz-fallback");
    if (fallback) fallback.remove();
    var id = root.id || "rl-quiz-" + index;
    var form = el("form", {"class": "rl-quiz-form", "novalidate": "novalidate"});
    var getAnswer;

    if (data.kind === "number") {
      var row = el("p", {"class": "rl-quiz-row"});
      var input = el("input", {"type": "text", "inputmode": "decimal", "autocomplete": "off",
                               "class": "rl-quiz-input", "id": id + "-input", "aria-label": "your answer"});
      row.appendChild(input);
      if (data.unit) row.appendChild(el("span", {"class": "rl-quiz-unit"}, " " + data.unit));
      form.appendChild(row);
      getAnswer = function () { return input.value; };
    } else {
      var list = el("div", {"class": "rl-quiz-choices", "role": "radiogroup"});
      data.choices.forEach(function (choice, k) {
        var label = el("label", {"class": "rl-quiz-choice"});
        var radio = el("input", {"type": "radio", "name": id + "-choice", "value": String(k)});
        label.appendChild(radio);
        label.appendChild(el("span", {}, " " + choice));
        list.appendChild(label);
      });
      form.appendChild(list);
      getAnswer = function () {
        var picked = form.querySelector("input[type=radio]:checked");
        return picked ? Number(picked.value) : null;
      };
    }

    var buttons = el("p", {"class": "rl-quiz-buttons"});
    var check = el("button", {"type": "submit", "class": "rl-quiz-check"}, "Check");
    var reveal = el("button", {"type": "button", "class": "rl-quiz-reveal", "hidden": "hidden"}, "Show the answer");
    buttons.appendChild(check);
    buttons.appendChild(document.createTextNode(" "));
    buttons.appendChild(reveal);
    form.appendChild(buttons);
    var verdict = el("p", {"class": "rl-quiz-verdict", "role": "status", "aria-live": "polite"});
    form.appendChild(verdict);
    root.appendChild(form);

    function say(kind, html) {
      verdict.setAttribute("data-verdict", kind);
      verdict.innerHTML = html;
      typeset(verdict);
    }

    function answerText() {
      if (data.kind === "number") {
        var tol = data.tolerance > 0 ? " (within \u00b1" + data.tolerance + ")" : "";
        return "The answer is " + data.answer + (data.unit ? " " + data.unit : "") + tol + ".";
      }
      return "The answer is: " + data.choices[data.answer] + ".";
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var given = getAnswer();
      if (data.kind === "number") {
        var x = parseNumber(given);
        if (isNaN(x)) {
          say("invalid", "Type a number (for example 0.25 or 1e-3).");
          return;
        }
        var ok = Math.abs(x - data.answer) <= data.tolerance * (1 + 1e-12) + 1e-12 * Math.abs(data.answer);
        if (ok) {
          reveal.hidden = true;
          say("right", "<strong>Right.</strong> " + data.explanation);
        } else {
          reveal.hidden = false;
          say("wrong", "<strong>Not quite.</strong> " + (data.hint || "Try again, or show the answer."));
        }
      } else {
        if (given === null) {
          say("invalid", "Pick one of the choices.");
          return;
        }
        if (given === data.answer) {
          reveal.hidden = true;
          var own = data.feedback && data.feedback[given] ? data.feedback[given] + " " : "";
          say("right", "<strong>Right.</strong> " + own + data.explanation);
        } else {
          reveal.hidden = false;
          var why = (data.feedback && data.feedback[given]) || data.hint || "Try again, or show the answer.";
          say("wrong", "<strong>Not quite.</strong> " + why);
        }
      }
    });

    reveal.addEventListener("click", function () {
      reveal.hidden = true;
      say("revealed", answerText() + " " + data.explanation);
    });

    root.setAttribute("data-rl-quiz-ready", "true");
    typeset(root);
  }

  function mountAll() {
    var roots = document.querySelectorAll(".rl-quiz[data-rl-quiz]");
    for (var i = 0; i < roots.length; i++) {
      if (!roots[i].hasAttribute("data-rl-quiz-ready")) mount(roots[i], i);
    }
  }

  window.replearnQuiz = {parseNumber: parseNumber, mountAll: mountAll};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
  else mountAll();
})();
