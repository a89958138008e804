// TollgatePolicy
