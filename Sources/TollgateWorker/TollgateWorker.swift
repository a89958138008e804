// TollgateWorker
