/* The Kanban board: drag and drop, keyboard moves and undo. Every move is saved at once.
 *
 * Without this script the board still works: each card's "Move to…" link opens a move form.
 * With it, moves happen in place: the card moves first, the server is asked, and on refusal the
 * card goes back with the reason. A toast offers Undo for the last move.
 */
(function () {
  "use strict";

  var board = document.querySelector("[data-board]");
  if (!board) {
    return;
  }
  var canWrite = board.getAttribute("data-can-write") === "true";
  var csrf = board.getAttribute("data-csrf");
  var toast = document.querySelector("[data-toast]");
  var toastText = toast && toast.querySelector("[data-toast-text]");
  var toastUndo = toast && toast.querySelector("[data-toast-undo]");
  var dialog = document.querySelector("[data-lost-dialog]");
  var dragging = null;
  var toastTimer = null;
  var undoAction = null;

  function columns() {
    return Array.prototype.slice.call(board.querySelectorAll(".board-column"));
  }

  function columnOf(node) {
    return node.closest(".board-column");
  }

  function columnById(stageId) {
    return columns().filter(function (column) {
      return column.getAttribute("data-stage-id") === String(stageId);
    })[0];
  }

  function listOf(column) {
    return column.querySelector("[data-dropzone]");
  }

  function place(card, column) {
    var list = listOf(column);
    list.insertBefore(card, list.firstChild);
  }

  function updateColumns(summaries) {
    (summaries || []).forEach(function (summary) {
      var column = columnById(summary.stage_id);
      if (!column) {
        return;
      }
      column.querySelector("[data-count]").textContent = summary.count;
      column.querySelector("[data-total]").textContent = summary.total;
    });
  }

  function hideToast() {
    if (toast) {
      toast.hidden = true;
    }
    undoAction = null;
  }

  function showToast(text, undo, isError) {
    if (!toast) {
      return;
    }
    window.clearTimeout(toastTimer);
    toastText.textContent = text;
    toast.classList.toggle("toast--error", Boolean(isError));
    undoAction = undo || null;
    toastUndo.hidden = !undoAction;
    toast.hidden = false;
    toastTimer = window.setTimeout(hideToast, undo ? 12000 : 6000);
  }

  function post(url, fields) {
    var body = new FormData();
    Object.keys(fields).forEach(function (key) {
      if (fields[key] !== undefined && fields[key] !== null) {
        body.append(key, fields[key]);
      }
    });
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" },
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return { ok: false, message: "The server answered " + response.status + "." };
        });
    });
  }

  function undo(card, answer, fromColumn) {
    post(answer.undo_url, { change_id: answer.change_id }).then(function (reply) {
      if (!reply.ok) {
        showToast(reply.message || "The move could not be undone.", null, true);
        return;
      }
      place(card, columnById(reply.stage_id) || fromColumn);
      updateColumns(reply.columns);
      showToast(reply.message);
      card.focus();
    });
  }

  function move(card, target, extra) {
    var from = columnOf(card);
    if (!canWrite || !target || from === target) {
      return;
    }
    if (target.getAttribute("data-stage-kind") === "lost" && !extra && dialog) {
      askWhyLost(card, target);
      return;
    }
    place(card, target);
    card.classList.add("is-saving");
    card.setAttribute("aria-busy", "true");
    var fields = { stage: target.getAttribute("data-stage-id") };
    if (extra) {
      fields.lost_reason = extra.lost_reason;
      fields.lost_note = extra.lost_note;
    }
    post(card.getAttribute("data-move-url"), fields)
      .then(function (answer) {
        if (!answer.ok) {
          place(card, from);
          showToast(answer.message || "The deal could not be moved.", null, true);
          return;
        }
        updateColumns(answer.columns);
        showToast(
          answer.message,
          answer.change_id
            ? function () {
                undo(card, answer, from);
              }
            : null
        );
      })
      .catch(function () {
        place(card, from);
        showToast("The move could not be saved; check the connection and try again.", null, true);
      })
      .then(function () {
        card.classList.remove("is-saving");
        card.removeAttribute("aria-busy");
      });
  }

  function askWhyLost(card, target) {
    var form = dialog.querySelector("[data-lost-form]");
    form.reset();
    dialog.returnValue = "";
    dialog.onclose = function () {
      if (dialog.returnValue === "confirm") {
        move(card, target, {
          lost_reason: form.elements.lost_reason.value,
          lost_note: form.elements.lost_note.value,
        });
      }
      card.focus();
    };
    dialog.showModal();
  }

  if (dialog) {
    dialog.querySelector("[data-lost-cancel]").addEventListener("click", function () {
      dialog.close("");
    });
  }

  if (toast) {
    toastUndo.addEventListener("click", function () {
      var action = undoAction;
      hideToast();
      if (action) {
        action();
      }
    });
    toast.querySelector("[data-toast-close]").addEventListener("click", hideToast);
  }

  // -- drag and drop ---------------------------------------------------------------------------

  function clearTargets() {
    columns().forEach(function (column) {
      column.classList.remove("is-drop-target");
    });
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".deal-card");
    if (!card || !canWrite) {
      return;
    }
    dragging = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-deal-id"));
    card.classList.add("is-dragging");
  });

  board.addEventListener("dragend", function () {
    if (dragging) {
      dragging.classList.remove("is-dragging");
    }
    dragging = null;
    clearTargets();
  });

  board.addEventListener("dragover", function (event) {
    var column = event.target.closest && event.target.closest(".board-column");
    if (!column || !dragging) {
      return;
    }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (!column.classList.contains("is-drop-target")) {
      clearTargets();
      column.classList.add("is-drop-target");
    }
  });

  board.addEventListener("drop", function (event) {
    var column = event.target.closest && event.target.closest(".board-column");
    if (!column || !dragging) {
      return;
    }
    event.preventDefault();
    var card = dragging;
    dragging = null;
    card.classList.remove("is-dragging");
    clearTargets();
    move(card, column);
  });

  // -- keyboard --------------------------------------------------------------------------------

  board.addEventListener("keydown", function (event) {
    var card = event.target;
    if (!card.classList || !card.classList.contains("deal-card")) {
      return;
    }
    var column = columnOf(card);
    var all = columns();
    var index = all.indexOf(column);
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      event.preventDefault();
      var next = all[index + (event.key === "ArrowRight" ? 1 : -1)];
      if (next) {
        move(card, next);
        card.focus();
      }
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var cards = Array.prototype.slice.call(listOf(column).querySelectorAll(".deal-card"));
      var sibling = cards[cards.indexOf(card) + (event.key === "ArrowDown" ? 1 : -1)];
      if (sibling) {
        sibling.focus();
      }
    } else if (event.key === "Enter") {
      var link = card.querySelector(".deal-card__name");
      if (link) {
        window.location.assign(link.href);
      }
    }
  });

})();
