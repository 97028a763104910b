// A plain table of API rows: the given columns (or every key of the first row).
export function DataTable({ rows, columns, testid }: { rows: Record<string, any>[]; columns?: string[]; testid?: string }) {
  const keys = columns ?? Object.keys(rows[0] ?? {});
  if (!rows.length) return <p className="muted small">Nothing yet.</p>;
  const show = (v: unknown) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));
  return (
    <table className="list" data-testid={testid}>
      <thead><tr>{keys.map((k) => <th key={k}>{k.replace(/_/g, " ")}</th>)}</tr></thead>
      <tbody>{rows.map((r, i) => <tr key={r.id ?? i}>{keys.map((k) => <td key={k}>{show(r[k])}</td>)}</tr>)}</tbody>
    </table>
  );
}
