//! An in-memory xenstore shared by simulated domains, with xenstored's rules: permissions
//! (owner, per-domain read/write, a default for everyone else, dom0 above them all), watches
//! that fire on a node and everything below it (and once when set), and transactions that
//! fail with `EAGAIN` when something they touched changed meanwhile.
//!
//! Each domain reaches it through a [`Connection`], which implements `xen_ring::xs::Xenstore`
//! exactly as the backend will use the real one.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;

use xen_ring::grant::DomId;
use xen_ring::xs::{NO_TRANSACTION, Perm, TxId, Xenstore, XsError};

#[derive(Debug, Clone)]
struct Node {
    value: Vec<u8>,
    perms: Vec<Perm>,
    /// The store generation at which the node last changed.
    changed: u64,
}

#[derive(Debug, Clone, Default)]
struct Tree {
    nodes: BTreeMap<String, Node>,
}

#[derive(Debug)]
struct Transaction {
    domid: DomId,
    started: u64,
    tree: Tree,
    touched: Vec<String>,
}

#[derive(Debug, Default)]
struct Store {
    tree: Tree,
    generation: u64,
    watches: Vec<(DomId, String, String)>,
    events: HashMap<DomId, VecDeque<(String, String)>>,
    transactions: HashMap<TxId, Transaction>,
    next_tx: TxId,
}

/// The longest path xenstored accepts.
const PATH_MAX: usize = 3072;

fn valid_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= PATH_MAX
        && (path == "/" || !path.ends_with('/'))
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-@.".contains(&b))
}

fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

fn is_under(path: &str, watched: &str) -> bool {
    path == watched
        || (path.starts_with(watched) && path.as_bytes().get(watched.len()) == Some(&b'/'))
        || watched == "/"
}

impl Tree {
    fn can(&self, domid: DomId, path: &str, write: bool) -> bool {
        if domid == 0 {
            return true;
        }
        let Some(node) = self.nodes.get(path) else {
            return false;
        };
        let Some(owner) = node.perms.first() else {
            return false;
        };
        if owner.domid == domid {
            return true;
        }
        let entry = node.perms[1..]
            .iter()
            .find(|p| p.domid == domid)
            .unwrap_or(owner);
        if write { entry.write } else { entry.read }
    }

    /// Writes `value`, creating missing parents with their parent's permissions (owned by
    /// `domid` when it is unprivileged), as xenstored does.
    fn write(
        &mut self,
        domid: DomId,
        path: &str,
        value: &[u8],
        generation: u64,
    ) -> Result<(), XsError> {
        if let Some(node) = self.nodes.get(path) {
            if !self.can(domid, path, true) {
                return Err(XsError::Denied);
            }
            let perms = node.perms.clone();
            self.nodes.insert(
                path.into(),
                Node {
                    value: value.into(),
                    perms,
                    changed: generation,
                },
            );
            return Ok(());
        }
        let parent = parent(path).ok_or(XsError::Invalid)?;
        if !self.nodes.contains_key(parent) {
            self.write(domid, parent, b"", generation)?;
        }
        if !self.can(domid, parent, true) {
            return Err(XsError::Denied);
        }
        // New nodes inherit their parent's permissions; an unprivileged creator owns them.
        let inherited = &self.nodes[parent].perms;
        let mut perms = inherited.clone();
        if domid != 0 {
            perms = vec![Perm {
                domid,
                ..inherited[0]
            }];
            perms.extend(inherited[1..].iter().filter(|p| p.domid != domid));
        }
        self.nodes.insert(
            path.into(),
            Node {
                value: value.into(),
                perms,
                changed: generation,
            },
        );
        Ok(())
    }
}

impl Store {
    fn new() -> Store {
        let mut tree = Tree::default();
        tree.nodes.insert(
            "/".into(),
            Node {
                value: vec![],
                perms: vec![Perm {
                    domid: 0,
                    read: false,
                    write: false,
                }],
                changed: 0,
            },
        );
        Store {
            tree,
            next_tx: 1,
            ..Store::default()
        }
    }

    fn fire(&mut self, path: &str) {
        for (domid, watched, token) in &self.watches {
            if is_under(path, watched) {
                self.events
                    .entry(*domid)
                    .or_default()
                    .push_back((path.to_string(), token.clone()));
            }
        }
    }

    /// The tree an operation works on: the transaction's copy, or the store's.
    fn tree_mut(&mut self, domid: DomId, tx: TxId) -> Result<&mut Tree, XsError> {
        if tx == NO_TRANSACTION {
            return Ok(&mut self.tree);
        }
        match self.transactions.get_mut(&tx) {
            Some(t) if t.domid == domid => Ok(&mut t.tree),
            _ => Err(XsError::NotFound),
        }
    }

    fn touch(&mut self, tx: TxId, path: &str) {
        if let Some(t) = self.transactions.get_mut(&tx) {
            t.touched.push(path.to_string());
        }
    }
}

/// Called with the requesting domain before each request is answered: a test can make
/// round trips take time (a busy dom0, nested virtualisation).
pub type RoundTrip = Rc<dyn Fn(DomId)>;

/// A simulated host's xenstore, shared by its domains.
#[derive(Clone)]
pub struct XenstoreHost {
    store: Rc<RefCell<Store>>,
    round_trip: Rc<RefCell<Option<RoundTrip>>>,
}

impl Default for XenstoreHost {
    fn default() -> Self {
        Self::new()
    }
}

impl XenstoreHost {
    pub fn new() -> XenstoreHost {
        XenstoreHost {
            store: Rc::new(RefCell::new(Store::new())),
            round_trip: Rc::new(RefCell::new(None)),
        }
    }

    /// Domain `domid`'s connection.
    pub fn connect(&self, domid: DomId) -> Connection {
        Connection {
            domid,
            store: self.store.clone(),
            round_trip: self.round_trip.clone(),
        }
    }

    /// Runs `hook` on every request from now on (see [`RoundTrip`]).
    pub fn on_round_trip(&self, hook: RoundTrip) {
        *self.round_trip.borrow_mut() = Some(hook);
    }

    /// Reads a node regardless of permissions (for assertions).
    pub fn peek(&self, path: &str) -> Option<String> {
        self.store
            .borrow()
            .tree
            .nodes
            .get(path)
            .map(|n| String::from_utf8_lossy(&n.value).into_owned())
    }

    /// Whether `path` exists.
    /// How many changes the store has seen (every write, removal and permission change):
    /// tests use it to see that nothing keeps rewriting the store.
    pub fn generation(&self) -> u64 {
        self.store.borrow().generation
    }

    pub fn exists(&self, path: &str) -> bool {
        self.store.borrow().tree.nodes.contains_key(path)
    }
}

/// One domain's connection to the store.
pub struct Connection {
    domid: DomId,
    store: Rc<RefCell<Store>>,
    round_trip: Rc<RefCell<Option<RoundTrip>>>,
}

impl Connection {
    fn round_trip(&self) {
        let hook = self.round_trip.borrow().clone();
        if let Some(hook) = hook {
            hook(self.domid);
        }
    }
}

impl Xenstore for Connection {
    fn domid(&self) -> DomId {
        self.domid
    }

    fn read(&mut self, tx: TxId, path: &str, buf: &mut [u8]) -> Result<usize, XsError> {
        self.round_trip();
        let mut store = self.store.borrow_mut();
        store.touch(tx, path);
        let tree = store.tree_mut(self.domid, tx)?;
        let node = tree.nodes.get(path).ok_or(XsError::NotFound)?;
        if !tree.can(self.domid, path, false) {
            return Err(XsError::Denied);
        }
        let value = &node.value;
        if value.len() > buf.len() {
            return Err(XsError::BufferTooSmall {
                needed: value.len(),
            });
        }
        buf[..value.len()].copy_from_slice(value);
        Ok(value.len())
    }

    fn write(&mut self, tx: TxId, path: &str, value: &[u8]) -> Result<(), XsError> {
        self.round_trip();
        if !valid_path(path) || value.len() > 4096 {
            return Err(XsError::Invalid);
        }
        let mut store = self.store.borrow_mut();
        store.generation += 1;
        let generation = store.generation;
        store.touch(tx, path);
        store
            .tree_mut(self.domid, tx)?
            .write(self.domid, path, value, generation)?;
        if tx == NO_TRANSACTION {
            store.fire(path);
        }
        Ok(())
    }

    fn directory(
        &mut self,
        tx: TxId,
        path: &str,
        child: &mut dyn FnMut(&str),
    ) -> Result<(), XsError> {
        self.round_trip();
        let mut store = self.store.borrow_mut();
        store.touch(tx, path);
        let tree = store.tree_mut(self.domid, tx)?;
        if !tree.nodes.contains_key(path) {
            return Err(XsError::NotFound);
        }
        if !tree.can(self.domid, path, false) {
            return Err(XsError::Denied);
        }
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        for key in tree
            .nodes
            .keys()
            .filter(|k| k.starts_with(&prefix) && k.len() > prefix.len())
        {
            let rest = &key[prefix.len()..];
            if !rest.contains('/') {
                child(rest);
            }
        }
        Ok(())
    }

    fn remove(&mut self, tx: TxId, path: &str) -> Result<(), XsError> {
        self.round_trip();
        let mut store = self.store.borrow_mut();
        store.generation += 1;
        store.touch(tx, path);
        let domid = self.domid;
        let tree = store.tree_mut(domid, tx)?;
        if !tree.nodes.contains_key(path) {
            return Err(XsError::NotFound);
        }
        let parent_ok = parent(path).is_some_and(|p| tree.can(domid, p, true));
        if !tree.can(domid, path, true) && !parent_ok {
            return Err(XsError::Denied);
        }
        let doomed: Vec<String> = tree
            .nodes
            .keys()
            .filter(|k| is_under(k, path))
            .cloned()
            .collect();
        for key in &doomed {
            tree.nodes.remove(key);
        }
        if tx == NO_TRANSACTION {
            store.fire(path);
        }
        Ok(())
    }

    fn set_perms(&mut self, tx: TxId, path: &str, perms: &[Perm]) -> Result<(), XsError> {
        self.round_trip();
        if perms.is_empty() {
            return Err(XsError::Invalid);
        }
        let mut store = self.store.borrow_mut();
        store.generation += 1;
        let generation = store.generation;
        store.touch(tx, path);
        let domid = self.domid;
        let tree = store.tree_mut(domid, tx)?;
        let owner = tree.nodes.get(path).ok_or(XsError::NotFound)?.perms[0].domid;
        if domid != 0 && domid != owner {
            return Err(XsError::Denied);
        }
        let node = tree.nodes.get_mut(path).ok_or(XsError::NotFound)?;
        node.perms = perms.to_vec();
        node.changed = generation;
        if tx == NO_TRANSACTION {
            store.fire(path);
        }
        Ok(())
    }

    fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.round_trip();
        if !valid_path(path) {
            return Err(XsError::Invalid);
        }
        let mut store = self.store.borrow_mut();
        store
            .watches
            .push((self.domid, path.to_string(), token.to_string()));
        // xenstored fires every new watch once.
        store
            .events
            .entry(self.domid)
            .or_default()
            .push_back((path.to_string(), token.to_string()));
        Ok(())
    }

    fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.round_trip();
        let mut store = self.store.borrow_mut();
        let before = store.watches.len();
        let domid = self.domid;
        store
            .watches
            .retain(|(d, p, t)| !(*d == domid && p == path && t == token));
        if store.watches.len() == before {
            Err(XsError::NotFound)
        } else {
            Ok(())
        }
    }

    fn take_watch_events(&mut self, event: &mut dyn FnMut(&str, &str)) {
        let pending = self
            .store
            .borrow_mut()
            .events
            .remove(&self.domid)
            .unwrap_or_default();
        for (path, token) in pending {
            event(&path, &token);
        }
    }

    fn transaction_start(&mut self) -> Result<TxId, XsError> {
        self.round_trip();
        let mut store = self.store.borrow_mut();
        let id = store.next_tx;
        store.next_tx += 1;
        let tx = Transaction {
            domid: self.domid,
            started: store.generation,
            tree: store.tree.clone(),
            touched: vec![],
        };
        store.transactions.insert(id, tx);
        Ok(id)
    }

    fn transaction_end(&mut self, tx: TxId, commit: bool) -> Result<(), XsError> {
        self.round_trip();
        let mut store = self.store.borrow_mut();
        let t = match store.transactions.remove(&tx) {
            Some(t) if t.domid == self.domid => t,
            Some(t) => {
                store.transactions.insert(tx, t);
                return Err(XsError::NotFound);
            }
            None => return Err(XsError::NotFound),
        };
        if !commit {
            return Ok(());
        }
        // Conflict: a node the transaction touched changed (or vanished/appeared) meanwhile.
        let conflict = t.touched.iter().any(|path| {
            let now = store.tree.nodes.get(path).map(|n| n.changed);
            let then = t.tree.nodes.get(path).map(|n| n.changed);
            now.is_some_and(|c| c > t.started)
                || (now.is_none() && then.is_some_and(|c| c <= t.started))
        });
        if conflict {
            return Err(XsError::Again);
        }
        store.generation += 1;
        let generation = store.generation;
        let changed: Vec<String> = t
            .tree
            .nodes
            .iter()
            .filter(|(k, n)| n.changed > t.started || !store.tree.nodes.contains_key(*k))
            .map(|(k, _)| k.clone())
            .chain(
                store
                    .tree
                    .nodes
                    .keys()
                    .filter(|k| !t.tree.nodes.contains_key(*k))
                    .cloned(),
            )
            .collect();
        store.tree = t.tree;
        for node in store
            .tree
            .nodes
            .values_mut()
            .filter(|n| n.changed > t.started)
        {
            node.changed = generation;
        }
        for path in changed {
            store.fire(&path);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(c: &mut Connection, path: &str) -> Result<String, XsError> {
        let mut buf = [0u8; 4096];
        let n = c.read(NO_TRANSACTION, path, &mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    fn events(c: &mut Connection) -> Vec<(String, String)> {
        let mut out = vec![];
        c.take_watch_events(&mut |p, t| out.push((p.to_string(), t.to_string())));
        out
    }

    #[test]
    fn guests_cannot_read_or_write_what_they_were_not_granted() {
        let host = XenstoreHost::new();
        let (mut dom0, mut guest, mut other) = (host.connect(0), host.connect(5), host.connect(6));
        dom0.write(0, "/local/domain/5/device/vsnd/0/state", b"1")
            .unwrap();
        let owner_5 = [
            Perm {
                domid: 5,
                read: false,
                write: false,
            },
            Perm {
                domid: 1,
                read: true,
                write: false,
            },
        ];
        dom0.set_perms(0, "/local/domain/5/device/vsnd/0/state", &owner_5)
            .unwrap();
        assert_eq!(
            read(&mut guest, "/local/domain/5/device/vsnd/0/state").unwrap(),
            "1"
        );
        guest
            .write(0, "/local/domain/5/device/vsnd/0/state", b"3")
            .unwrap();
        assert_eq!(
            read(&mut other, "/local/domain/5/device/vsnd/0/state"),
            Err(XsError::Denied)
        );
        assert_eq!(
            other.write(0, "/local/domain/5/device/vsnd/0/state", b"6"),
            Err(XsError::Denied)
        );
        assert_eq!(
            read(&mut host.connect(1), "/local/domain/5/device/vsnd/0/state").unwrap(),
            "3"
        );
        assert_eq!(
            host.connect(1)
                .write(0, "/local/domain/5/device/vsnd/0/state", b"6"),
            Err(XsError::Denied)
        );
        assert_eq!(
            guest.write(0, "/local/domain/0/secret", b"x"),
            Err(XsError::Denied)
        );
    }

    #[test]
    fn watches_fire_once_when_set_and_on_every_change_below() {
        let host = XenstoreHost::new();
        let (mut dom0, mut backend) = (host.connect(0), host.connect(1));
        dom0.write(0, "/local/domain/1/backend", b"").unwrap();
        let open = [Perm {
            domid: 1,
            read: true,
            write: true,
        }];
        dom0.set_perms(0, "/local/domain/1/backend", &open).unwrap();
        backend.watch("/local/domain/1/backend/vsnd", "be").unwrap();
        assert_eq!(
            events(&mut backend),
            [("/local/domain/1/backend/vsnd".into(), "be".into())]
        );
        dom0.write(0, "/local/domain/1/backend/vsnd/5/0/state", b"1")
            .unwrap();
        dom0.write(0, "/local/domain/1/backend/vsndother", b"x")
            .unwrap();
        let got = events(&mut backend);
        assert_eq!(
            got,
            [("/local/domain/1/backend/vsnd/5/0/state".into(), "be".into())]
        );
        dom0.remove(0, "/local/domain/1/backend/vsnd/5").unwrap();
        assert_eq!(
            events(&mut backend),
            [("/local/domain/1/backend/vsnd/5".into(), "be".into())]
        );
        assert!(!host.exists("/local/domain/1/backend/vsnd/5/0/state"));
    }

    #[test]
    fn conflicting_transactions_fail_with_eagain_and_change_nothing() {
        let host = XenstoreHost::new();
        let (mut a, mut b) = (host.connect(0), host.connect(0));
        a.write(0, "/x/ring-ref", b"1").unwrap();
        let tx = a.transaction_start().unwrap();
        let mut buf = [0u8; 8];
        a.read(tx, "/x/ring-ref", &mut buf).unwrap();
        a.write(tx, "/x/event-channel", b"9").unwrap();
        b.write(0, "/x/ring-ref", b"2").unwrap();
        assert_eq!(a.transaction_end(tx, true), Err(XsError::Again));
        assert!(!host.exists("/x/event-channel"));
        let tx = a.transaction_start().unwrap();
        a.write(tx, "/x/event-channel", b"9").unwrap();
        assert_eq!(
            host.peek("/x/event-channel"),
            None,
            "invisible until commit"
        );
        a.transaction_end(tx, true).unwrap();
        assert_eq!(host.peek("/x/event-channel").as_deref(), Some("9"));
    }

    #[test]
    fn malformed_paths_and_values_are_refused() {
        let host = XenstoreHost::new();
        let mut dom0 = host.connect(0);
        for bad in ["relative", "/trailing/", "/double//slash", "/bad char", ""] {
            assert_eq!(dom0.write(0, bad, b"x"), Err(XsError::Invalid), "{bad:?}");
        }
        assert_eq!(dom0.write(0, "/big", &[b'x'; 4097]), Err(XsError::Invalid));
    }
}
