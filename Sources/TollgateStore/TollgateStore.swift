// TollgateStore
