/** A dependency-free SVG of cost-accuracy curves with single models as labelled points. */
import type { OperatingPoint } from './metrics.ts';
import { paretoFrontier } from './metrics.ts';

export interface PlotSeries { label: string; points: OperatingPoint[]; color: string }
export interface PlotPoint { label: string; cost: number; accuracy: number }

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function costAccuracySvg(title: string, series: PlotSeries[], singles: PlotPoint[], costUnit = 'USD per 1,000 prompts', costScale = 1000): string {
  const W = 820, H = 520, L = 70, R = 220, T = 40, B = 60;
  const all = [...series.flatMap((s) => s.points), ...singles].filter((p) => p.cost > 0);
  const xmin = Math.log10(Math.min(...all.map((p) => p.cost))), xmax = Math.log10(Math.max(...all.map((p) => p.cost)));
  const ymin = Math.floor(Math.min(...all.map((p) => p.accuracy)) * 20) / 20, ymax = Math.min(1, Math.ceil(Math.max(...all.map((p) => p.accuracy)) * 20) / 20);
  const px = (c: number) => L + ((Math.log10(c) - xmin) / (xmax - xmin || 1)) * (W - L - R);
  const py = (a: number) => H - B - ((a - ymin) / (ymax - ymin || 1)) * (H - T - B);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${L}" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${W - R + 15}" y="${H - B - 20 - series.length * 18}" fill="#444">● single models</text>`);
  for (let y = ymin; y <= ymax + 1e-9; y += 0.05) {
    out.push(`<line x1="${L}" x2="${W - R}" y1="${py(y)}" y2="${py(y)}" stroke="#eee"/><text x="${L - 8}" y="${py(y) + 4}" text-anchor="end">${y.toFixed(2)}</text>`);
  }
  for (let e = Math.ceil(xmin * 2) / 2; e <= xmax + 1e-9; e += 0.5) {
    const v = 10 ** e * costScale;
    out.push(`<line x1="${px(10 ** e)}" x2="${px(10 ** e)}" y1="${T}" y2="${H - B}" stroke="#eee"/><text x="${px(10 ** e)}" y="${H - B + 16}" text-anchor="middle">${v < 1 ? v.toFixed(2) : v.toFixed(1)}</text>`);
  }
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 18}" text-anchor="middle">average cost (${esc(costUnit)}, log scale)</text>`);
  out.push(`<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">accuracy</text>`);
  series.forEach((s, i) => {
    const f = paretoFrontier(s.points);
    // Step frontier: best accuracy at or below each cost, as AIQ measures it.
    let d = '';
    f.forEach((p, j) => { d += j === 0 ? `M${px(p.cost)},${py(p.accuracy)}` : `H${px(p.cost)}V${py(p.accuracy)}`; });
    if (f.length) d += `H${W - R}`;
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    // Legend in the right margin, below the plot's top where the curves end.
    const ly = H - B - 20 - (series.length - 1 - i) * 18;
    out.push(`<line x1="${W - R + 15}" x2="${W - R + 35}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/><text x="${W - R + 40}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  singles.forEach((p) => {
    out.push(`<circle cx="${px(p.cost)}" cy="${py(p.accuracy)}" r="4" fill="#444"/><text x="${px(p.cost) + 6}" y="${py(p.accuracy) - 6}" font-size="10" fill="#444">${esc(p.label.replace(/^.*\//, ''))}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
