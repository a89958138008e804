import TollgateCLI

await TollgateCommand.runMain()
