// Copy buttons on the fine-tuning job page: <button data-copy="#selector"> copies that element's text.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  const label = button.textContent;
  navigator.clipboard.writeText(source.textContent).then(() => {
    button.textContent = "✓";
    setTimeout(() => { button.textContent = label; }, 1200);
  });
});
