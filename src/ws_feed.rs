//! Which list messages one `/sessions/ws` client gets (`ListFeed`), and
//! the messages of one moment, built lazily and once for every client
//! (`MomentMessages`): the whole list as today, the list with a `seq` for
//! subscribers, and the tick's changes or keep-alive (`list_changes.rs`).
//!
//! The rule for a subscriber, at a push tick with changes: one that has
//! taken every earlier push gets the changes message; one still holding
//! unsent bytes of an earlier push (not started, or part-written) gets a
//! fresh list with the new `seq` instead, which replaces what had not
//! started, so a slow client never holds a backlog of changes, and then
//! changes from there. A keep-alive goes only to a client with nothing
//! pending (what is pending tells it as much).

use crate::api::App;
use crate::list_changes::ListTick;
use crate::sessions::ListFilter;
use crate::views;
use crate::ws_frame::SharedMessage;

/// What list messages a client gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFeed {
    /// The whole list every interval: every client that never subscribed
    /// (or sent `"changes": false`).
    Lists,
    /// Subscribed to changes. `list_due`: it gets a list with a `seq` at
    /// the end of this turn (it subscribed, or asked again after a gap).
    Changes { list_due: bool },
}

/// What a moment has for subscribers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// The end of a loop turn: only clients that joined or subscribed in
    /// it get a list.
    TurnEnd,
    /// A push tick with nothing for subscribers.
    QuietTick,
    KeepAliveTick,
    ChangesTick,
}

/// What one client is offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    Nothing,
    /// `{"type":"sessions",...}` as before subscriptions.
    List,
    /// `{"type":"sessions","seq":N,...}`: the list as of changes message N.
    ListAtSeq,
    /// The moment's changes or keep-alive message.
    Stream,
}

impl ListFeed {
    /// What this client gets at `moment`; `behind`: it still holds unsent
    /// bytes of an earlier push.
    pub fn offer(self, moment: Moment, behind: bool) -> Offer {
        match (self, moment) {
            (ListFeed::Lists, _) => Offer::List,
            (ListFeed::Changes { list_due: true }, _) => Offer::ListAtSeq,
            (ListFeed::Changes { .. }, Moment::TurnEnd | Moment::QuietTick) => Offer::Nothing,
            (ListFeed::Changes { .. }, Moment::ChangesTick) if behind => Offer::ListAtSeq,
            (ListFeed::Changes { .. }, Moment::KeepAliveTick) if behind => Offer::Nothing,
            (ListFeed::Changes { .. }, Moment::ChangesTick | Moment::KeepAliveTick) => {
                Offer::Stream
            }
        }
    }
}

/// The messages of one moment, each built the first time a client needs
/// it and then shared (framed once per kind, `SharedMessage`).
pub struct MomentMessages<'a> {
    app: &'a App,
    now_ms: u64,
    /// The `seq` a list built now covers.
    seq: u64,
    moment: Moment,
    stream: Option<SharedMessage>,
    list: Option<SharedMessage>,
    list_at_seq: Option<SharedMessage>,
}

impl<'a> MomentMessages<'a> {
    /// The end of a turn: lists for clients that joined or subscribed.
    pub fn turn_end(app: &'a App, now_ms: u64, seq: u64) -> MomentMessages<'a> {
        MomentMessages::new(app, now_ms, seq, Moment::TurnEnd, None)
    }

    /// A push tick, with what the changes stream has for it, and the
    /// tick's whole list if another transport built it already.
    pub fn tick(
        app: &'a App,
        now_ms: u64,
        seq: u64,
        tick: ListTick,
        list: Option<SharedMessage>,
    ) -> MomentMessages<'a> {
        let (moment, stream) = match tick {
            ListTick::Quiet => (Moment::QuietTick, None),
            ListTick::KeepAlive(payload) => (Moment::KeepAliveTick, Some(payload)),
            ListTick::Changes(payload) => (Moment::ChangesTick, Some(payload)),
        };
        let mut messages = MomentMessages::new(app, now_ms, seq, moment, stream);
        messages.list = list;
        messages
    }

    /// The tick's changes message, if it has one: SSE list streams send
    /// the same JSON.
    pub fn into_changes(self) -> Option<SharedMessage> {
        match self.moment {
            Moment::ChangesTick => self.stream,
            _ => None,
        }
    }

    fn new(
        app: &'a App,
        now_ms: u64,
        seq: u64,
        moment: Moment,
        stream: Option<Vec<u8>>,
    ) -> MomentMessages<'a> {
        MomentMessages {
            app,
            now_ms,
            seq,
            moment,
            stream: stream.map(SharedMessage::new),
            list: None,
            list_at_seq: None,
        }
    }

    pub fn moment(&self) -> Moment {
        self.moment
    }

    /// How many lists were built so far (none at rest).
    pub fn lists_built(&self) -> usize {
        usize::from(self.list.is_some()) + usize::from(self.list_at_seq.is_some())
    }

    /// The message for `offer`, built now if no client needed it before.
    pub fn message(&mut self, offer: Offer) -> Option<&mut SharedMessage> {
        let (app, now_ms, seq) = (self.app, self.now_ms, self.seq);
        match offer {
            Offer::Nothing => None,
            Offer::Stream => self.stream.as_mut(),
            Offer::List => Some(
                self.list
                    .get_or_insert_with(|| list_message(app, now_ms, None)),
            ),
            Offer::ListAtSeq => Some(
                self.list_at_seq
                    .get_or_insert_with(|| list_message(app, now_ms, Some(seq))),
            ),
        }
    }
}

/// The whole list as of `now_ms`: `{"type":"sessions",...}`, with the `seq`
/// it covers for subscribers.
pub fn list_message(app: &App, now_ms: u64, seq: Option<u64>) -> SharedMessage {
    let sessions = app.sessions.list(ListFilter::All);
    let server_id = app.sessions.server_id();
    SharedMessage::new(match seq {
        Some(seq) => views::sessions_message_at_seq(seq, now_ms, &server_id, &sessions),
        None => views::sessions_message(now_ms, &server_id, &sessions),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAUGHT_UP: ListFeed = ListFeed::Changes { list_due: false };
    const LIST_DUE: ListFeed = ListFeed::Changes { list_due: true };

    #[test]
    fn offers() {
        use Moment::*;
        let cases = [
            // Clients that never subscribed: a list whenever one is handed out.
            (ListFeed::Lists, TurnEnd, false, Offer::List),
            (ListFeed::Lists, QuietTick, true, Offer::List),
            (ListFeed::Lists, ChangesTick, false, Offer::List),
            // Just subscribed: a list with a seq, whatever the moment.
            (LIST_DUE, TurnEnd, false, Offer::ListAtSeq),
            (LIST_DUE, ChangesTick, true, Offer::ListAtSeq),
            // Caught up: the stream, only when it has something.
            (CAUGHT_UP, TurnEnd, false, Offer::Nothing),
            (CAUGHT_UP, QuietTick, false, Offer::Nothing),
            (CAUGHT_UP, KeepAliveTick, false, Offer::Stream),
            (CAUGHT_UP, ChangesTick, false, Offer::Stream),
            // Behind: a fresh list instead of a backlog; no keep-alive.
            (CAUGHT_UP, ChangesTick, true, Offer::ListAtSeq),
            (CAUGHT_UP, KeepAliveTick, true, Offer::Nothing),
            (CAUGHT_UP, QuietTick, true, Offer::Nothing),
        ];
        for (feed, moment, behind, expected) in cases {
            assert_eq!(
                feed.offer(moment, behind),
                expected,
                "{feed:?} {moment:?} {behind}"
            );
        }
    }

    #[test]
    fn nothing_is_built_until_a_client_needs_it_and_then_once() {
        let config = crate::config::Config::default();
        let addr = "127.0.0.1:8558".parse().expect("address");
        let app = App::new(config, addr, [7; 12], 0);
        let changes = br#"{"type":"changes","seq":4,"upserts":[],"removed":[]}"#.to_vec();
        let mut messages = MomentMessages::tick(&app, 0, 4, ListTick::Changes(changes), None);
        assert!(messages.message(Offer::Stream).is_some());
        assert!(messages.message(Offer::Nothing).is_none());
        assert_eq!(messages.lists_built(), 0, "the changes need no list");
        for _ in 0..3 {
            let list = messages.message(Offer::ListAtSeq).expect("a list");
            let frame = list.frame(false);
            let text = String::from_utf8_lossy(&frame[4..]).into_owned();
            assert!(
                text.starts_with(r#"{"type":"sessions","seq":4,"time":"#),
                "{text}"
            );
        }
        assert_eq!(messages.lists_built(), 1);
        let mut quiet = MomentMessages::tick(&app, 0, 4, ListTick::Quiet, None);
        assert!(quiet.message(Offer::Stream).is_none());
    }
}
