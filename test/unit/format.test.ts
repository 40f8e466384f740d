import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, tableCell, tableLines } from '../../src/format/markdown.js';

describe('format/markdown', () => {
  it('keeps a cell in its column and row', () => {
    expect(tableCell('a|b\nc')).toBe('a\\|b c');
    const lines = tableLines(['Name', 'Size'], [['x|y', '1 B']]);
    expect(lines).toEqual(['| Name | Size |', '| --- | --- |', '| x\\|y | 1 B |']);
  });
  it('scales bytes by 1024 and keeps plain bytes exact', () => {
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(3.5 * 1024 ** 3)).toBe('3.5 GiB');
  });
  it('says durations in ms, s, then min and s', () => {
    expect(formatDuration(999)).toBe('999 ms');
    expect(formatDuration(59_400)).toBe('59 s');
    expect(formatDuration(125_000)).toBe('2 min 5 s');
  });
});
