// The console's only script: it enhances pages that work without it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Forms that change something serious ask first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  // Copy buttons copy the text of the element they name.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
      } catch {
        button.textContent = "Select and copy it by hand";
      }
    });
  }
  // A date picker moves to its day when changed.
  for (const input of document.querySelectorAll("input[data-autosubmit]")) {
    input.addEventListener("change", () => input.form.submit());
  }
});
