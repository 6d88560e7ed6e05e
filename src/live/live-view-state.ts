// What the live view says of itself: to readiness and the dashboard's answers, and to each viewer.

/** What the live view is doing: answers come from memory only when `live`. */
export type LiveViewState =
  | { status: 'off' }
  | { status: 'rebuilding'; detail: string }
  | { status: 'live' }
  | { status: 'behind'; detail: string };

/** What each viewer is pushed when the tally changes. */
export interface LiveUpdate {
  /** Plays this replica's live view has counted since it started. */
  plays: number;
  /** The newest play counted (ISO-8601), or null. */
  newest_play_at: string | null;
  /** When the update was sent (ISO-8601). */
  at: string;
}
