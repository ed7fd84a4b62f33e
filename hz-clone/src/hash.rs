//! A hasher for the maps a backend's serializer keeps by identity.

/// A cheap hasher for keys that are already well spread (object pointers,
/// atom numbers, V8 identity hashes): one multiply and rotate per word, so
/// that the top bits (which hashbrown reads first) depend on every bit.
/// SipHash was 5% of cloning an array of objects on QuickJS.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_i32(&mut self, n: i32) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
}

/// Builds [`IdentityHasher`]s, for `HashMap<K, V, BuildIdentity>`.
pub type BuildIdentity = std::hash::BuildHasherDefault<IdentityHasher>;
