// Progressive extras for the Tally consoles; every page works without them.

document.addEventListener('DOMContentLoaded', () => {
  // Times arrive in UTC; show them in the reader's own time zone.
  for (const element of document.querySelectorAll('time[data-local]')) {
    const when = new Date(element.getAttribute('datetime'));
    if (!Number.isNaN(when.getTime())) {
      element.textContent = when.toLocaleString(undefined, {
        day: 'numeric',
        month: 'short',
        year: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
      });
      element.title = when.toISOString();
    }
  }

  // Copy buttons, for the values people type into an app.
  if (navigator.clipboard) {
    for (const button of document.querySelectorAll('button[data-copy]')) {
      button.hidden = false;
      button.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(button.dataset.copy);
          button.textContent = 'Copied';
        } catch {
          button.textContent = 'Select and copy';
        }
        setTimeout(() => (button.textContent = 'Copy'), 2000);
      });
    }
  }
});
