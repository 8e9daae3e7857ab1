[{{ sprig_title "hello world" }}][{{ sprig_title "it's a ǆungle_out-there x1y" }}][{{ sprig_untitle "Hello World ÄBC" }}][{{ sprig_title "" }}][{{ "élan vital" | sprig_title }}]
