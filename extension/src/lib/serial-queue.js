// One task at a time, in the order given: what read-modify-write updates of one record, or
// clips that must reach the server in order, need.

/**
 * Runs the tasks given to it one at a time, in order: read-modify-write updates of one
 * record must not interleave. A task that fails rejects its own promise only; the next
 * still runs.
 */
export function serialQueue() {
  let tail = Promise.resolve();
  return (task) => {
    const run = tail.then(task);
    tail = run.catch(() => {});
    return run;
  };
}
