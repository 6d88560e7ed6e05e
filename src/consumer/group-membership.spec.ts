import { GroupMembership } from './group-membership.js';

describe('GroupMembership', () => {
  it('tells each change of the partitions owned: a join, then the loss of the assignment once', () => {
    const heard: number[][] = [];
    const membership = new GroupMembership((owned) => heard.push([...owned]));
    membership.joinedOwning([2, 0]);
    expect(membership).toMatchObject({ joined: true, assignmentId: 1 });
    membership.lost();
    // Lost again (REBALANCING, then the JoinGroup request): nothing new to tell.
    membership.lost();
    membership.joinedOwning([]);
    expect(heard).toEqual([[2, 0], [], []]);
    expect(membership).toMatchObject({ joined: true, assignmentId: 2 });
  });
});
