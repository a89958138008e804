import Testing

@Test func placeholder_TollgatePolicyTests() {}
