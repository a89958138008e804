// TollgateAMQP
