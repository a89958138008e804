import Testing

@Test func placeholder_TollgateBrokerTests() {}
