//! The suite against its own model, [`ReferenceStore`]: every check must
//! pass, or the suite (or the model) is wrong.

use gatehouse_conformance::reference::ReferenceStore;

gatehouse_conformance::store_conformance!(reference, ReferenceStore::new());
