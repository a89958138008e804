// TollgateJSON
