// aion ui: confirmation of actions and live updates (server-sent events). No build step.
"use strict";

// Every button or form with data-confirm asks first; "Cancel" in the dialog sends nothing.
document.addEventListener("submit", (event) => {
  const source = event.submitter && event.submitter.dataset.confirm ? event.submitter : event.target;
  const question = source.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

function showProblem(message) {
  const banner = document.getElementById("live-problem");
  if (!banner) return;
  banner.textContent = message || "";
  banner.hidden = !message;
}

// Follows `url()` with an EventSource; after an error, reconnects to a fresh url()
// (the detail feed's url names the last event shown, so nothing is sent twice).
function follow(url, handlers) {
  const dot = document.getElementById("live-dot");
  let source = null;
  const connect = () => {
    source = new EventSource(url());
    source.onopen = () => dot && dot.classList.add("on");
    for (const [name, handle] of Object.entries(handlers)) {
      source.addEventListener(name, (message) => handle(JSON.parse(message.data)));
    }
    source.addEventListener("problem", (message) => showProblem(JSON.parse(message.data).message));
    source.onerror = () => {
      dot && dot.classList.remove("on");
      source.close();
      window.setTimeout(connect, 2000);
    };
  };
  connect();
  window.addEventListener("pagehide", () => source && source.close());
}

function rowsOf(html) {
  const template = document.createElement("template");
  template.innerHTML = "<table><tbody>" + html + "</tbody></table>";
  return Array.from(template.content.querySelectorAll("tbody > tr"));
}

const list = document.getElementById("live-list");
if (list) {
  follow(() => list.dataset.live, {
    listing: (data) => {
      showProblem("");
      document.getElementById("rows").innerHTML = data.rows;
      document.getElementById("counts").innerHTML = data.counts;
      document.getElementById("paging").innerHTML = data.paging;
    },
  });
}

const timeline = document.getElementById("timeline-rows");
if (timeline) {
  follow(() => timeline.dataset.live + "?after=" + timeline.dataset.after, {
    history: (data) => {
      showProblem("");
      const shown = Number(timeline.dataset.after);
      for (const row of rowsOf(data.rows)) {
        if (Number(row.dataset.seq) > shown) {
          row.classList.add("fresh");
          timeline.appendChild(row);
        }
      }
      timeline.dataset.after = String(data.last_seq);
      document.getElementById("summary").innerHTML = data.summary;
    },
  });
}
