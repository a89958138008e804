import Testing

@Test func placeholder_TollgateStoreTests() {}
