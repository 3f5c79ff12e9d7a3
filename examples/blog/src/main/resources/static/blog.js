// Votes without reloading the page: the vote form is posted with fetch, the answer (JSON) carries
// the new score, which is shown at once. Without JavaScript the same form posts and redirects back.
(function () {
  document.addEventListener('submit', async function (e) {
    var form = e.target;
    if (!form.classList || !form.classList.contains('vote-form')) return;
    e.preventDefault();
    var button = e.submitter;
    var body = new URLSearchParams(new FormData(form));
    if (button && button.name) body.set(button.name, button.value);
    var res = await fetch(form.action, {
      method: 'POST',
      headers: { 'Accept': 'application/json', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body,
      credentials: 'same-origin'
    });
    var data = await res.json();
    if (!res.ok) { alert(data.message); return; }
    var up = form.querySelector('.up'), down = form.querySelector('.down');
    form.querySelector('.score').textContent = data.score;
    up.classList.toggle('on', data.dir === 1);
    down.classList.toggle('on', data.dir === -1);
    up.value = data.dir === 1 ? '0' : '1';
    down.value = data.dir === -1 ? '0' : '-1';
  });
})();
