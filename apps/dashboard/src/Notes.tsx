// Tags and signed notes of a sweep or a run. Anyone may read them where reads are allowed;
// changing them needs a token (its name signs the note).
import { useState } from 'preact/hooks';
import { api, errorText } from './api';
import { useMe } from './App';
import { when } from './format';
import { useQuery } from './hooks';

type Target = { sweep: string } | { run: number };

export function Notes(props: { target: Target }) {
  const key = JSON.stringify(props.target);
  const q = useQuery(() => api.notes.get.query(props.target), [key]);
  const me = useMe();
  const [text, setText] = useState('');
  const [tags, setTags] = useState<string | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const signedIn = !!me.data?.name;
  const act = (p: Promise<unknown>) =>
    p.then(
      () => {
        setErr(null);
        q.reload();
      },
      (e: unknown) => setErr(errorText(e)),
    );
  if (!q.data) return null;
  return (
    <section class="notes">
      <div class="tags">
        {q.data.tags.map((t) => (
          <span class="tag" key={t}>
            {t}
          </span>
        ))}
        {signedIn && tags === null ? (
          <button type="button" class="link" onClick={() => setTags(q.data!.tags.join(' '))}>
            edit tags
          </button>
        ) : null}
        {tags !== null ? (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void act(
                api.notes.setTags.mutate({
                  ...props.target,
                  tags: tags.split(/[\s,]+/).filter(Boolean),
                }),
              ).then(() => setTags(null));
            }}
          >
            <input
              aria-label="tags"
              value={tags}
              onInput={(e) => setTags((e.target as HTMLInputElement).value)}
            />
            <button type="submit">save tags</button>
          </form>
        ) : null}
      </div>
      {q.data.notes.map((n) => (
        <p class="note" key={n.id}>
          <b>{n.author}</b> <span class="muted">{when(n.createdAt)}</span>: {n.text}
        </p>
      ))}
      {signedIn ? (
        <form
          class="add-note"
          onSubmit={(e) => {
            e.preventDefault();
            if (text.trim())
              void act(api.notes.add.mutate({ ...props.target, text })).then(() => setText(''));
          }}
        >
          <input
            aria-label="note"
            placeholder="add a note"
            value={text}
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
          />
          <button type="submit">add note</button>
        </form>
      ) : (
        <p class="muted small">Notes and tags need a token to change.</p>
      )}
      {err ? <p class="error">{err}</p> : null}
    </section>
  );
}
