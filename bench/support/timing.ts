/** Mean milliseconds per call of `f` over `reps` calls, after one warm-up call. */
export function timeIt(reps: number, f: () => void): number {
  f(); // warm up
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t0) / reps;
}
