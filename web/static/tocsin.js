// Live parts without a build step: an element with data-refresh="<url>" reloads its
// contents from that URL (plus the page's own query string, so filters stay) every 4 s.
(function () {
  document.querySelectorAll("[data-refresh]").forEach(function (el) {
    async function refresh() {
      try {
        const response = await fetch(el.dataset.refresh + window.location.search,
          { headers: { "Accept": "text/html" }, credentials: "same-origin" });
        if (response.ok) { el.innerHTML = await response.text(); }
      } catch (e) { /* offline for a moment: try again next tick */ }
    }
    setInterval(refresh, 4000);
  });
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      const source = document.getElementById(button.dataset.copy);
      if (source && navigator.clipboard) { navigator.clipboard.writeText(source.textContent.trim()); }
      button.textContent = "Copied";
    });
  });
})();
// "Add step" on the escalation policy form: clone the <template> fieldset with the next
// index (the form already renders one blank step, so it works without this too).
(function () {
  document.querySelectorAll("[data-add-step]").forEach(function (button) {
    button.addEventListener("click", function () {
      const box = document.getElementById(button.dataset.addStep);
      const template = document.getElementById("step-template");
      const index = box.querySelectorAll("[data-step]").length;
      const html = template.innerHTML.replaceAll("Step __i__", "Step " + (index + 1));
      box.insertAdjacentHTML("beforeend", html.replaceAll("__i__", String(index)));
    });
  });
})();

// Schedule form: show only the inputs of the chosen shift kind (without JS all are shown).
(function () {
  document.querySelectorAll("[data-shift-kind]").forEach(function (select) {
    const row = select.closest(".row");
    function sync() {
      row.querySelectorAll("[data-shift]").forEach(function (el) {
        el.hidden = el.dataset.shift.split(" ").indexOf(select.value) < 0;
      });
    }
    select.addEventListener("change", sync);
    sync();
  });
})();
