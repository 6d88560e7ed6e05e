import { splitPoint } from './halves.js';

describe('splitPoint: where a list refused for its size is cut', () => {
  it('cuts it in halves, the first rounded up, and cannot cut a single item', () => {
    expect(splitPoint(4)).toBe(2);
    expect(splitPoint(5)).toBe(3);
    expect(splitPoint(2)).toBe(1);
    expect(splitPoint(1)).toBeNull();
    expect(splitPoint(0)).toBeNull();
  });
});
