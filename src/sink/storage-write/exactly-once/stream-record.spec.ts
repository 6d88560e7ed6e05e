import { decodeStreamRecord, encodeStreamRecord } from './stream-record.js';

describe('the stream record in commit metadata', () => {
  it('round-trips and stays far under Kafka’s 4096-byte metadata cap', () => {
    const record = {
      stream:
        'projects/a-long-project-id/datasets/music/tables/tony_allen_plays/streams/Cic2NTEyZmQ5Yy0wMDAwLTJiMTctYTU',
      rows: 123_456_789,
      carried: 42,
    };
    const metadata = encodeStreamRecord(record);
    expect(decodeStreamRecord(metadata)).toEqual(record);
    expect(Buffer.byteLength(metadata)).toBeLessThan(300);
  });

  it.each([
    null,
    undefined,
    '',
    'some other tool',
    'plays-eo1:not json',
    'plays-eo1:{"s":"x","r":-1,"c":0}',
    'plays-eo1:{"s":1,"r":0,"c":0}',
  ])('reads %j as no record', (metadata) => {
    expect(decodeStreamRecord(metadata)).toBeNull();
  });
});
