import TollgateCLI

await TollgateCommand.main()
